"""Shared admin building blocks: counts that stay cheap at millions of rows, logged denials, query
parameters screened before a list uses them."""

from __future__ import annotations

import dis
import functools
import inspect
import json
import re
from typing import Any

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.functional import cached_property
from django.utils.html import conditional_escape, escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.admin import checkbox
from unfold.contrib.filters.admin import TextFilter
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
def shown_value(value: Any) -> str:
    """A stored value as operators read it: "—" for nothing, a mapping (a provider link's settings)
    as a small table of its keys and values, a list joined by commas; never Python's repr."""
    if value is None or value == "" or value == {} or value == []:
        return "—"
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
