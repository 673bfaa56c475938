"""The one patch of unfold's internals (``backoffice.admin_base.memoize_unfold_headers``): applied,
still fitting the unfold installed, and refusing an unfold it was not written for."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from backoffice.admin_base import (
    UNFOLD_CHANGED,
    UNFOLD_REVIEWED_VERSION,
    memoize_unfold_headers,
    unfold_header_problems,
)


def test_the_patched_unfold_function_is_the_one_expected():
    from unfold.templatetags import unfold_list

    patched = unfold_list.result_headers
    problems = unfold_header_problems(unfold_list)
    if not getattr(patched, "memoized", False):
        problems.append("result_headers is not memoized (BackofficeConfig.ready did not apply it?)")
    elif getattr(patched, "__wrapped__", None) is None or patched.__wrapped__.__module__ != unfold_list.__name__:
        problems.append("the memoized result_headers does not wrap unfold's own")
    installed = version("django-unfold")
    if installed != UNFOLD_REVIEWED_VERSION:
        problems.append(f"django-unfold is {installed}, the patch was reviewed against {UNFOLD_REVIEWED_VERSION}")
    assert not problems, f"{UNFOLD_CHANGED}: {'; '.join(problems)}"


CALLERS = """
def items_for_result(cl):
    return list(result_headers(cl))


def result_list(cl):
    return list(result_headers(cl))
"""
# A row renderer that was handed the headers instead of looking them up: the patch would not reach it.
CALLERS_WITHOUT_THE_GLOBAL = """
def items_for_result(cl, result_headers=None):
    return []


def result_list(cl):
    return list(result_headers(cl))
"""


def _fake_unfold(result_headers: Any, callers: str = CALLERS) -> ModuleType:
    """A module shaped like ``unfold.templatetags.unfold_list``: its row and list renderers look
    ``result_headers`` up as a module global when called."""
    module = ModuleType("fake_unfold_list")
    exec(callers, module.__dict__)
    module.result_headers = result_headers
    return module


def test_headers_are_built_once_per_changelist_and_each_caller_gets_copies():
    calls: list[object] = []

    def result_headers(cl):
        calls.append(cl)
        yield {"text": "Number", "sortable": True}
        yield {"text": "Type", "sortable": False}

    fake = _fake_unfold(result_headers)
    memoize_unfold_headers(fake)
    memoize_unfold_headers(fake)  # idempotent: not wrapped twice
    assert fake.result_headers.__wrapped__ is result_headers
    first, second = SimpleNamespace(), SimpleNamespace()
    headers = list(fake.result_headers(first))
    headers[0]["text"] = "changed by a caller"
    assert [h["text"] for h in fake.items_for_result(first)] == ["Number", "Type"]
    list(fake.result_list(second))
    list(fake.items_for_result(second))
    assert calls == [first, second]


def _takes_more(cl, extra=None):
    yield {}


def _not_a_generator(cl):
    return []


def _expected(cl):
    yield {}


@pytest.mark.parametrize(
    ("result_headers", "callers", "problem"),
    [
        (_takes_more, CALLERS, "no longer takes just (cl)"),
        (_not_a_generator, CALLERS, "no longer a generator function"),
        (_expected, CALLERS_WITHOUT_THE_GLOBAL, "items_for_result no longer calls"),
    ],
)
def test_an_unfold_that_changed_is_refused_loudly(result_headers, callers, problem):
    fake = _fake_unfold(result_headers, callers)
    with pytest.raises(ImproperlyConfigured, match=UNFOLD_CHANGED) as refused:
        memoize_unfold_headers(fake)
    assert problem in str(refused.value)
    assert fake.result_headers is result_headers and inspect.isfunction(fake.result_headers)


def test_the_expected_shape_passes_the_check():
    assert unfold_header_problems(_fake_unfold(_expected)) == []
