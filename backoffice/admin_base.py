"""Shared admin building blocks: counts that stay cheap at millions of rows, logged denials, query
parameters screened before a list uses them."""

from __future__ import annotations

import dis
import functools
import inspect
import json
import re
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ERROR_FLAG, IGNORED_PARAMS, SEARCH_VAR, ChangeList
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.core.validators import EMPTY_VALUES
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.html import conditional_escape, escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.admin import checkbox
from unfold.contrib.filters.admin import RangeDateFilter, TextFilter
from unfold.decorators import display

from backoffice.auth import log_denied
from backoffice.ids import whole_number

# Below this many rows an exact count is cheap enough to run on every page.
EXACT_COUNT_LIMIT = 10_000


def _table_estimate(queryset: QuerySet[Any]) -> int | None:
    """PostgreSQL's own row estimate for the whole table (kept by autovacuum / ANALYZE)."""
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    # -1 means "never analysed": no estimate to trust.
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


def _plan_estimate(queryset: QuerySet[Any]) -> int | None:
    """The planner's row estimate for a filtered query, read from EXPLAIN (no rows scanned)."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


class EstimatedCountPaginator(Paginator):
    """A paginator that never runs an unbounded ``count(*)`` on PostgreSQL.

    Up to ``EXACT_COUNT_LIMIT`` rows are counted exactly (a bounded count); past that the
    unfiltered list uses the table statistics and a filtered one the planner's estimate.
    Page numbers far beyond an underestimate come back empty instead of failing.
    """

    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or connections[queryset.db].vendor != "postgresql":
            return super().count
        # Counting up to the limit first keeps small tables exact even when the statistics are
        # stale (a truncated table keeps its old reltuples until the next ANALYZE).
        capped = queryset.order_by()[: EXACT_COUNT_LIMIT + 1].count()
        if capped <= EXACT_COUNT_LIMIT:
            return capped
        self.estimated = True
        estimate = _table_estimate(queryset) if not queryset.query.where else _plan_estimate(queryset)
        return max(capped, estimate or 0)

    def validate_number(self, number: Any) -> int:
        # An estimate may be a little short of the truth: allow the page after the last one.
        try:
            return super().validate_number(number)
        except Exception:
            if not self.estimated:
                raise
            return max(1, int(number))


class ExactIntegerFilter(TextFilter):
    """A typed-in integer (an id, a code) matched exactly, and so through the column's index.
    Anything else (letters, "²", 5,000 digits, past int64) is ignored with a message."""

    field_name = ""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = (self.value() or "").strip()
        if not value:
            return queryset
        number = whole_number(value)
        if number is None:
            ignored(
                request,
                self.parameter_name,
                gettext("the %(title)s must be a whole number of at most 19 digits") % {"title": self.title},
            )
            return queryset
        return queryset.filter(**{self.field_name: number})


class DateRangeFilter(RangeDateFilter):
    """From and to dates of a date-time column (unfold's two date fields with their calendar), both
    days included, in the operator's time zone: ``<field>_from`` and ``<field>_to``, each a half-open
    range bound (``>=`` the from day's start, ``<`` the day after the to day), so an index on the
    column serves it. A value that is no date is left out with a message (unfold's own filter
    dropped both bounds silently, and compared the to day's midnight: the day itself was left out)."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        bounds: dict[str, datetime] = {}
        for suffix, lookup, days_after in (("_from", "gte", 0), ("_to", "lt", 1)):
            name = f"{self.parameter_name}{suffix}"
            value = self.used_parameters.get(name)
            if value in EMPTY_VALUES:
                continue
            try:
                day = forms.DateField().clean(value) + timedelta(days=days_after)
                bounds[f"{self.field_path}__{lookup}"] = timezone.make_aware(datetime.combine(day, time.min))
            except (ValidationError, OverflowError, ValueError):
                ignored(request, name, _("it is not a date (YYYY-MM-DD)"))
        return queryset.filter(**bounds)


class _TieBreakInSortDirection:
    """A ChangeList whose ties are broken by the primary key in the sorted column's own direction."""

    def _get_deterministic_ordering(self, ordering: list[Any]) -> list[Any]:
        ordering = list(ordering)
        pk = self.lookup_opts.pk.name  # type: ignore[attr-defined]
        named = {field for field in ordering if isinstance(field, str)}
        if ordering and isinstance(ordering[0], str) and not {"pk", "-pk", pk, f"-{pk}"} & named:
            ordering.append("-pk" if ordering[0].startswith("-") else "pk")
        return super()._get_deterministic_ordering(ordering)  # type: ignore[misc]


class IndexOrderedMixin:
    """Ties of a sorted column broken by the primary key in the column's own direction.

    Django breaks ties by ``-pk`` whatever the direction, so ``type`` ascending reads
    ``ORDER BY type, id DESC``: no (type, id) index serves it, and among a million phones of a
    few types PostgreSQL sorts a whole type to show 50. Same direction, the index is read as is
    (forwards or backwards) and the page stops at its 50 rows."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        base = super().get_changelist(request, **kwargs)  # type: ignore[misc]
        return type(f"IndexOrdered{base.__name__}", (_TieBreakInSortDirection, base), {})


# --- Active filters shown as chips ------------------------------------------------------------------
def filter_chips(changelist: ChangeList, request: HttpRequest | None) -> list[dict[str, str]]:
    """The list's active filters and search, one chip per query parameter: what it filters, its
    value as the filter shows it, and the list's address without that one parameter (sort and
    the other filters kept, back to the first page). Parameters left out (``ignored``) have no chip:
    they did not filter."""
    params = {key: [v for v in values if v != ""] for key, values in changelist.filter_params.items()}
    skipped = ignored_filters(request) if request is not None else frozenset()

    def without(key: str) -> str:
        kept = {name: values for name, values in changelist.filter_params.items() if name != key}
        return "?" + urlencode(sorted(kept.items()), doseq=True)

    chips = []
    if changelist.query and params.get(SEARCH_VAR):
        chips.append({"label": str(_("Search")), "value": changelist.query, "remove_url": without(SEARCH_VAR)})
    for spec in changelist.filter_specs:
        used = [key for key in spec.expected_parameters() if key and params.get(key) and key not in skipped]
        if not used:
            continue
        shown = [choice.get("display") for choice in spec.choices(changelist) if choice.get("selected")]
        # A filter may name its value itself (``chip``: an id as what it identifies).
        own = spec.chip(request) if request is not None and hasattr(spec, "chip") else None
        for key in used:
            if own is not None:
                chips.append({"label": own[0], "value": own[1], "remove_url": without(key)})
                continue
            label = str(spec.title)
            bound = _LOOKUP_BOUNDS.get(key.rpartition("__")[2]) if "__" in key else None
            if key.endswith("_from"):
                label = str(_("%(filter)s from")) % {"filter": label}
            elif key.endswith("_to"):
                label = str(_("%(filter)s to")) % {"filter": label}
            elif bound is not None and not shown:  # a quick date's own link ("Past 7 days") names itself
                label = str(bound) % {"filter": label}
            # A choice filter shows its chosen choice in words; a typed value (a date, a number) as
            # typed, a time (a link's ``created_at__gte``) in the operator's zone and format.
            if len(used) == 1 and len(shown) == 1 and shown[0] is not None:
                value = str(shown[0])
            else:
                value = ", ".join(map(_lookup_value, params[key]))
            chips.append({"label": capfirst(label), "value": value, "remove_url": without(key)})
    # A lookup no filter of the list offers (the link page's "N jobs" opens the jobs list with
    # ``link__id__exact``) narrows the list all the same: it gets a chip too, or the list looked
    # whole ("No sync jobs yet." for a link without jobs).
    consumed = {key for spec in changelist.filter_specs for key in spec.expected_parameters() if key}
    for key, values in params.items():
        if not values or key in consumed or key in skipped or key in IGNORED_PARAMS or key.startswith("_"):
            continue
        shown = _lookup_chip(changelist, key, values)
        if shown is not None:
            label, value = shown
            chips.append({"label": label, "value": value, "remove_url": without(key)})
    return chips


# A lookup's comparison, as the date range filters' chips say it.
_LOOKUP_BOUNDS = {
    "gte": _("%(filter)s from"),
    "gt": _("%(filter)s from"),
    "lte": _("%(filter)s to"),
    "lt": _("%(filter)s to"),
}


def _lookup_chip(changelist: ChangeList, key: str, values: list[str]) -> tuple[str, str] | None:
    """A lookup parameter in words: the first field's name ("Link" for ``link__id__exact``) and
    its bound for a comparison ("Finished at from" for ``finished_at__gte``, the dashboard's 30
    days); the value a choice's label ("Phone changed" for ``event__in=phone_change,...``, the
    dashboard's links), else as ``_lookup_value`` shows it. None for a parameter that names no
    field."""
    parts = key.split("__")
    try:
        field = changelist.model._meta.get_field(parts[0])
    except FieldDoesNotExist:
        return None
    label = str(getattr(field, "verbose_name", field.name))
    if len(parts) > 1 and parts[-1] in _LOOKUP_BOUNDS:
        label = str(_LOOKUP_BOUNDS[parts[-1]]) % {"filter": label}
    items = [item for value in values for item in (value.split(",") if parts[-1] == "in" else [value])]
    choices = {str(choice): str(name) for choice, name in getattr(field, "flatchoices", None) or ()}
    return capfirst(label), ", ".join(choices.get(item) or _lookup_value(item) for item in items)


def _lookup_value(value: str) -> str:
    """A lookup's value as typed (an id stays an id: the related row's own words could name
    something the operator may not see), but a time in the operator's zone and format."""
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None or "T" not in value:
        return value
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return formats.localize(timezone.localtime(moment))


# --- Query parameters of the lists --------------------------------------------------------
# Filters and searches come from the address bar: hand-made ones reached the database as they
# were (a NUL, which PostgreSQL refuses in text; 5,000 digits that int() refuses) and answered 500.
# No filter or search value of these lists is longer than an email (254).
ADMIN_PARAM_MAX_LENGTH = 255
# Control characters (a pasted tab or line break aside) and lone surrogates (which UTF-8 cannot
# even encode): never in a filter.
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def ignored(request: HttpRequest, parameter: str, why: str) -> None:
    """Tell the operator a filter or search was left out, and why (remembered on the request:
    ``ignored_filters``)."""
    shown = _UNSAFE.sub("\N{REPLACEMENT CHARACTER}", parameter)[:40]
    messages.warning(request, gettext("Ignored the filter “%(filter)s”: %(why)s.") % {"filter": shown, "why": why})
    request._ignored_filters = ignored_filters(request) | {parameter}  # type: ignore[attr-defined]


def ignored_filters(request: HttpRequest) -> frozenset[str]:
    """The parameters of this request left out so far."""
    return getattr(request, "_ignored_filters", frozenset())


def _problem(text: str) -> str | None:
    if len(text) > ADMIN_PARAM_MAX_LENGTH:
        return gettext("it is longer than %(max)d characters") % {"max": ADMIN_PARAM_MAX_LENGTH}
    if _UNSAFE.search(text):
        return gettext("it holds control characters")
    return None


def screened_query(query: QueryDict) -> tuple[QueryDict, dict[str, str]]:
    """The query without the parameters no list can use (too long, control characters, lone
    surrogates), and those left out with why (pure)."""
    left_out: dict[str, str] = {}
    for key, values in query.lists():
        problem = _problem(key) or next(filter(None, map(_problem, values)), None)
        if problem:
            left_out[key] = problem
    if not left_out:
        return query, left_out
    kept = query.copy()
    for key in left_out:
        del kept[key]
    kept._mutable = False
    return kept, left_out


def screen_query(request: HttpRequest) -> None:
    """Replace ``request.GET`` by its screened copy, telling the operator what was left out."""
    request.GET, left_out = screened_query(request.GET)
    for key, why in left_out.items():
        ignored(request, key, why)


class ScreenedQueryMixin:
    """A list's query parameters are screened before Django's changelist reads them; a filter the
    database refuses (Django then shows the list unfiltered, ``?e=1``) is reported."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        screen_query(request)
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        if response.status_code == 302 and response.get("Location", "").endswith(f"?{ERROR_FLAG}=1"):
            not_understood(request)
        return response


def not_understood(request: HttpRequest) -> None:
    messages.warning(request, gettext("Some filters were not understood and were removed: the list shows everything."))


class LoggedDenialsMixin:
    """Logs every refused admin page with the operator and the permission it lacked.

    ``has_*_permission`` is also asked while rendering (buttons, menus), so the log is written
    where a request is actually refused, not there.
    """

    def _permission_name(self, action: str) -> str:
        opts = self.model._meta  # type: ignore[attr-defined]
        return f"{opts.app_label}.{action}_{opts.model_name}"

    def _guard(self, request: HttpRequest, action: str, view: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied:
            log_denied(request, request.user, self._permission_name(action), "admin")
            raise

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return self._guard(request, "view", super().changelist_view, extra_context)  # type: ignore[misc]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        return self._guard(request, "add", super().add_view, form_url, extra_context)  # type: ignore[misc]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        action = "change" if request.method == "POST" else "view"
        return self._guard(request, action, super().change_view, object_id, form_url, extra_context)  # type: ignore[misc]

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        return self._guard(request, "delete", super().delete_view, object_id, extra_context)  # type: ignore[misc]

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        return self._guard(request, "view", super().history_view, object_id, extra_context)  # type: ignore[misc]

    # What an operator calls one object of this admin, where the model's name is not it (a role).
    shown_name: str | None = None

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> HttpResponse:
        # Not there, or not for this operator. Django adds "Perhaps it was deleted?" and goes to
        # the dashboard; nothing here is deleted (links unlinked, operators deactivated, jobs and
        # entries kept): say what is missing and go back to its list.
        messages.warning(
            request,
            _("There is no %(name)s with ID “%(id)s” that you may see.")
            % {"name": self.shown_name or opts.verbose_name, "id": object_id[:40]},
        )
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))

    def response_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        # A posted action the operator may not run is silently dropped by Django; log it.
        name = request.POST.get("action", "")
        if name and name not in self.get_actions(request):  # type: ignore[attr-defined]
            log_denied(request, request.user, f"action:{name}", "admin")
        return super().response_action(request, queryset)  # type: ignore[misc]


# --- Changelist rendering at 50+ rows a page ---------------------------------------------------
# Profiling the phones list showed ~80% of its server time in unfold's row rendering: the column
# headers are rebuilt for every row (rows x columns) and each row's checkbox goes through the
# template engine. Both are identical across rows, so they are computed once.
#
# The headers: unfold's ``{% unfold_result_list %}`` tag calls the module function
# ``unfold.templatetags.unfold_list.result_headers(cl)`` once for the header row and again inside
# ``items_for_result`` for every row (for each cell's ``data-label``). Neither unfold nor Django
# offers a hook for it (the ChangeList is not asked; replacing the tag would mean copying unfold's
# row rendering), so that module function is replaced by one that builds the headers once per
# ChangeList -- here, and nowhere else, applied once from ``BackofficeConfig.ready()`` after
# checking that unfold still has the shape this was written against (django-unfold 0.91.0).

UNFOLD_REVIEWED_VERSION = "0.91.0"
UNFOLD_CHANGED = "unfold internals changed: review backoffice.admin_base.memoize_unfold_headers"


def unfold_header_problems(module: Any) -> list[str]:
    """What no longer holds of the unfold internals ``memoize_unfold_headers`` relies on."""
    problems = []
    original = getattr(module, "result_headers", None)
    original = getattr(original, "__wrapped__", original) if getattr(original, "memoized", False) else original
    if not inspect.isgeneratorfunction(original):
        problems.append("result_headers is no longer a generator function")
    elif list(inspect.signature(original).parameters) != ["cl"]:
        problems.append(f"result_headers{inspect.signature(original)} no longer takes just (cl)")
    for caller in ("items_for_result", "result_list"):
        function = getattr(module, caller, None)
        globals_read = {
            instruction.argval
            for instruction in (dis.get_instructions(function) if inspect.isfunction(function) else ())
            if instruction.opname == "LOAD_GLOBAL"
        }
        if "result_headers" not in globals_read:
            problems.append(f"{caller} no longer calls the module's result_headers")
    return problems


def memoize_unfold_headers(module: Any = None) -> None:
    """Make unfold's ``result_headers(cl)`` build the headers once per ChangeList (each call gets
    copies); idempotent. Raises ImproperlyConfigured when unfold changed the functions involved."""
    if module is None:
        from unfold.templatetags import unfold_list as module
    original = module.result_headers
    if getattr(original, "memoized", False):
        return
    problems = unfold_header_problems(module)
    if problems:
        raise ImproperlyConfigured(f"{UNFOLD_CHANGED}: {'; '.join(problems)}")

    @functools.wraps(original)
    def result_headers(cl: Any) -> Any:
        cached = getattr(cl, "_unfold_result_headers", None)
        if cached is None:
            cached = cl._unfold_result_headers = list(original(cl))
        return iter([dict(header) for header in cached])

    result_headers.memoized = True  # type: ignore[attr-defined]
    module.result_headers = result_headers


class FastRowsMixin:
    """Row checkboxes from one pre-rendered template instead of a widget render per row."""

    @cached_property
    def _checkbox_html(self) -> str:
        return str(checkbox.render(helpers.ACTION_CHECKBOX_NAME, "__PK__"))

    @display(description=UnfoldModelAdmin.action_checkbox.short_description)
    def action_checkbox(self, obj: Any) -> str:
        # The pk is the only thing that differs between rows.
        return mark_safe(self._checkbox_html.replace("__PK__", escape(str(obj.pk))))


# --- Values in pages ----------------------------------------------------------------------------
# What every page shows for nothing: a read-only field left empty (the site's
# ``empty_value_display``, ``backoffice.admin``) as much as an empty list or mapping.
NOTHING = "—"


def shown_value(value: Any) -> str:
    """A stored value as operators read it: "—" for nothing, a mapping (a provider link's settings)
    as a small table of its keys and values, a list joined by commas; never Python's repr."""
    if value is None or value == "" or value == {} or value == []:
        return NOTHING
    if isinstance(value, dict):
        rows = format_html_join(
            "",
            '<tr><td class="pr-3 font-medium align-top">{}</td><td class="align-top">{}</td></tr>',
            ((key, shown_value(item)) for key, item in value.items()),
        )
        return format_html('<table class="shown-mapping text-xs"><tbody>{}</tbody></table>', rows)
    if isinstance(value, list | tuple):
        return format_html_join(", ", "{}", ((shown_value(item),) for item in value))
    return conditional_escape(str(value))


def shown_field(model: Any, name: str, show: Any = shown_value) -> Any:
    """A read-only admin field showing ``model``'s field ``name`` through ``show`` (``shown_value``
    by default), under the field's own label: JSON fields in words instead of raw JSON."""

    @display(description=model._meta.get_field(name).verbose_name)
    def field(_admin: Any, obj: Any) -> str:
        return show(getattr(obj, name))

    return field
