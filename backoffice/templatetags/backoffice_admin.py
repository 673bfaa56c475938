"""Template tags of the backoffice's admin pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def active_filter_chips(context: Any, changelist: Any) -> list[dict[str, str]]:
    """The list's active filters as chips (``admin_base.filter_chips``)."""
    # Imported here: template libraries load while the admin (unfold's included) is still importing.
    from backoffice.admin_base import filter_chips

    # The empty list's template has no request in its context (unfold's results tag): it only asks
    # whether anything narrows the list, and the filters left out are then not known.
    return filter_chips(changelist, context.get("request"))
