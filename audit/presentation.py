"""How the audit trail reads to operators: field labels, values in words, one date format, times
in the operator's zone, the phone's number instead of its id.

Pure functions of entries (no query of their own). The phones app tells this one what it cannot
import (the layers: ``audit`` is below ``phones``): how a number is written for people, how a
number typed in a search finds phones, and which model's fields label each event's values
(``register_phone_subject``, from ``PhonesConfig.ready``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from audit.events import ACCESS_EVENTS
from audit.models import AuditEntry
from backoffice import admin_base

# One format for every time in the audit pages, the admin's own in the operator's language (with
# seconds: they matter to an inspector), in the operator's zone with its name (backoffice/formats).
DATETIME_FORMAT = "DATETIME_FORMAT"
NOTHING = admin_base.NOTHING  # one dash for nothing, as on every page

# Keys of entries' objects and changes that no registered model names (access events' keys, the
# ids), or whose model name is Django's default ("customer id").
LABELS: dict[str, Any] = {
    "account_id": _("Account ID"),
    "customer_id": _("Customer ID"),
    "phone_id": _("Phone ID"),
    "number": _("Number"),  # a link's: its number at the provider (a phone's own says "Number" too)
    "operator_id": _("Operator ID"),
    "job_id": _("Sync job ID"),
    "email": _("Email"),
    "roles": _("Roles"),
    "roles_granted": _("Roles granted"),
    "roles_revoked": _("Roles revoked"),
    "full_name": _("Full name"),
    "is_active": _("Active"),
    "is_superuser": _("Superuser"),
    "ip_address": _("IP address"),
    "failures": _("Failed attempts"),
    "role": _("Role"),
    "permissions_added": _("Permissions added"),
    "permissions_removed": _("Permissions removed"),
    "selection": _("Selection"),
    "filter": _("Filters"),
    "row_count": _("Rows exported"),
    "refresh_token_revoked": _("Refresh token revoked"),
    "key_prefix": _("Key prefix"),
    "key_name": _("Key name"),
    "expires_at": _("Expires at"),
    "provider_status": _("Provider status"),
    "message": _("Provider message"),
    "error_codes": _("Error codes"),
    "desired": _("Desired settings"),
    "settings": _("Settings"),
}

# Stored words of access events' objects as operators read them (the payload keeps its own).
VALUE_LABELS: dict[str, dict[str, Any]] = {
    "selection": {"selected rows": _("selected rows"), "filtered list": _("filtered list")},
}

# What the "changes" column says of an access event that changed no field: its object's keys
# that tell what happened.
SUMMARY_KEYS: dict[str, tuple[str, ...]] = {
    "role_permissions_changed": ("permissions_added", "permissions_removed"),
    "phones_exported": ("selection", "row_count"),
    "operator_locked_out": ("failures",),
    "operator_unlocked": ("failures",),
    "api_key_issued": ("key_name", "key_prefix", "expires_at"),
    "api_key_revoked": ("key_name", "key_prefix"),
}


@dataclass
class PhoneSubject:
    """What the phones app tells the trail about its subjects (``register_phone_subject``)."""

    format_number: Callable[[str | None], str] = lambda e164: e164 or ""
    find_phone_ids: Callable[[str, int], list[int]] = lambda term, limit: []
    field_models: dict[str, type[models.Model]] = field(default_factory=dict)


_subject = PhoneSubject()
# Labels of keys no model names, told by the apps that own them (a provider link's settings).
_more_labels: dict[str, Any] = {}


def register_labels(labels: Mapping[str, Any]) -> None:
    _more_labels.update(labels)


def register_phone_subject(
    *,
    format_number: Callable[[str | None], str],
    find_phone_ids: Callable[[str, int], list[int]],
    field_models: Mapping[str, type[models.Model]],
) -> None:
    """How a phone's number is written for people, which phones a number typed in a search
    names (at most ``limit`` ids), and the model whose fields label each event's values."""
    global _subject
    _subject = PhoneSubject(format_number, find_phone_ids, dict(field_models))


def format_number(e164: str | None) -> str:
    return _subject.format_number(e164)


def find_phone_ids(term: str, limit: int) -> list[int]:
    return _subject.find_phone_ids(term, limit)


# --- Times -----------------------------------------------------------------------------------------
def zone_name() -> str:
    """The zone times are shown in: the operator's, activated for the request."""
    return timezone.get_current_timezone_name()


def when(value: datetime | None) -> str:
    """A stored time in the operator's zone, in the audit pages' one format."""
    if value is None:
        return NOTHING
    return date_format(timezone.localtime(value), DATETIME_FORMAT)


# --- Labels and values -----------------------------------------------------------------------------
def _model_field(event: str, key: str) -> models.Field[Any, Any] | None:
    model = _subject.field_models.get(event)
    if model is None:
        return None
    try:
        found = model._meta.get_field(key)
    except Exception:  # FieldDoesNotExist: a key of the event's object, not a column
        return None
    return found if isinstance(found, models.Field) else None


def label(event: str, key: str) -> str:
    """A key of an entry's object or changes as operators read it: the model's own verbose name
    where it has one of its own, else ours, else the key in words."""
    model_field = _model_field(event, key)
    # A model's own name for the key, not Django's default from it ("customer id"), nor a
    # relation's ("phone" for "phone_id", whose value is the id).
    if model_field is not None and model_field.name == key and str(model_field.verbose_name) != key.replace("_", " "):
        return capfirst(model_field.verbose_name)
    if key in LABELS or key in _more_labels:
        return str(LABELS.get(key) or _more_labels[key])
    if model_field is not None:
        return capfirst(model_field.verbose_name)
    return capfirst(key.replace("_", " "))


def _choice(event: str, key: str, value: Any) -> Any:
    if isinstance(value, str) and value in VALUE_LABELS.get(key, {}):
        return str(VALUE_LABELS[key][value])
    model_field = _model_field(event, key)
    if model_field is None or not model_field.choices or isinstance(value, dict | list):
        return value
    return dict(model_field.flatchoices).get(value, value)


def _words(value: Any) -> str | None:
    """A scalar in words (None for a mapping or a list)."""
    if value is None or value == "" or value == [] or (isinstance(value, dict) and not _set_items(value)):
        return NOTHING
    if value is True:
        return str(_("Yes"))
    if value is False:
        return str(_("No"))
    if isinstance(value, dict | list | tuple):
        return None
    return str(value)


def _set_items(mapping: dict[str, Any]) -> list[tuple[str, Any]]:
    """A mapping's keys that hold something (a link's settings keep every key of its provider,
    unset ones as null: the payload shows them)."""
    return [(key, value) for key, value in mapping.items() if _words(value) != NOTHING]


def value_html(event: str, key: str, value: Any) -> SafeString:
    """A stored value for a page: Yes/No, choice labels, a mapping (a provider link's settings)
    as a small table, a list joined by commas; never Python's repr."""
    value = _choice(event, key, value)
    words = _words(value)
    if words is not None:
        return conditional_escape(words)
    if isinstance(value, dict):
        rows = format_html_join(
            "",
            '<tr><td class="pr-3 font-medium align-top">{}</td><td class="align-top">{}</td></tr>',
            ((label(event, k), value_html(event, k, v)) for k, v in _set_items(value)),
        )
        return format_html('<table class="shown-mapping text-xs"><tbody>{}</tbody></table>', rows)
    return format_html_join(", ", "{}", ((value_html(event, key, item),) for item in value))


def value_text(event: str, key: str, value: Any) -> str:
    """The same in one line, for the list's "changes" column: a mapping as "key: value, ..."."""
    value = _choice(event, key, value)
    words = _words(value)
    if words is not None:
        return words
    if isinstance(value, dict):
        return ", ".join(f"{label(event, k)}: {value_text(event, k, v)}" for k, v in _set_items(value))
    return ", ".join(value_text(event, key, item) for item in value)


def _field_order(event: str) -> dict[str, int]:
    model = _subject.field_models.get(event)
    return {f.name: i for i, f in enumerate(model._meta.fields)} if model is not None else {}


def _changes(entry: AuditEntry) -> list[tuple[str, Any, Any]]:
    """(key, old, new) in the order of the model's fields (the database keeps JSON keys in an
    order of its own), leaving out what went from nothing to nothing (a creation's empty
    fields)."""
    order = _field_order(entry.event)
    found = [
        (key, old, new)
        for key, (old, new) in (entry.changes or {}).items()
        if not (_words(old) == NOTHING and _words(new) == NOTHING)
    ]
    return sorted(found, key=lambda change: order.get(change[0], len(order)))


def change_rows(entry: AuditEntry, *, identity: bool = True) -> list[tuple[str, SafeString, SafeString]]:
    """The entry's field changes: (label, old, new), as HTML values. ``identity=False`` leaves out
    who the subject is (``IDENTITY_KEYS``), for tables that name the phone in a column of their
    own (the histories of a phone's and an account's pages)."""
    event = entry.event
    return [
        (label(event, key), value_html(event, key, old), value_html(event, key, new))
        for key, old, new in _changes(entry)
        if identity or key not in IDENTITY_KEYS
    ]


def object_rows(entry: AuditEntry) -> list[tuple[str, SafeString]]:
    """What the event recorded of its subject (the payload's ``object``): (label, value)."""
    obj = entry.payload.get("object") if isinstance(entry.payload, dict) else None
    order = _field_order(entry.event)
    items = sorted((obj or {}).items(), key=lambda item: order.get(item[0], len(order)))
    return [(label(entry.event, key), value_html(entry.event, key, value)) for key, value in items]


# Who the subject is, not what changed: the list shows the phone in a column of its own (a new
# link's "Phone ID: — → 149" would be noise there; the entry page keeps it).
IDENTITY_KEYS = frozenset({"phone_id", "account_id", "operator_id"})


def changes_summary(entry: AuditEntry) -> str:
    """One line for the list: "Number: 91234-5678 → 95555-0000; Active: Yes → No". An access
    event that changed no field says what happened instead ("Rows exported: 12")."""
    event = entry.event
    if changes := [change for change in _changes(entry) if change[0] not in IDENTITY_KEYS]:
        return "; ".join(
            f"{label(event, key)}: {value_text(event, key, old)} → {value_text(event, key, new)}"
            for key, old, new in changes
        )
    obj = entry.payload.get("object") if isinstance(entry.payload, dict) else None
    keys = SUMMARY_KEYS.get(event, ())
    parts = [f"{label(event, key)}: {value_text(event, key, (obj or {}).get(key))}" for key in keys]
    return "; ".join(parts) or NOTHING


def subject(entry: AuditEntry) -> str:
    """Whom an access event is about: the operator (or the email typed at a failed sign-in), or
    the role whose permissions changed."""
    if entry.event not in ACCESS_EVENTS:
        return ""
    obj = entry.payload.get("object") if isinstance(entry.payload, dict) else None
    obj = obj or {}
    if obj.get("role"):
        return f"{_('Role')} {obj['role']}"
    return str(obj.get("email") or "")


def rows_html(rows: Iterable[tuple[Any, ...]], template: str) -> SafeString:
    return format_html_join("", template, rows)
