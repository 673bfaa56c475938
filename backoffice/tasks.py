"""Housekeeping of the token lists (``backoffice.tokens``): simplejwt keeps a row for every refresh
token issued and every one blacklisted, two per sign-in or refresh. A row of an expired token
proves nothing more (the token is refused by its own ``exp``): beat deletes them daily."""

from __future__ import annotations

from celery import shared_task
from django.core.management import call_command

FLUSH_EXPIRED_TOKENS_TASK = "backoffice.flush_expired_tokens"


@shared_task(name=FLUSH_EXPIRED_TOKENS_TASK, ignore_result=True)
def flush_expired_tokens() -> None:
    call_command("flushexpiredtokens")
