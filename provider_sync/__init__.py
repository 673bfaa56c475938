"""Provider sync: bringing linked phones' desired state to Sinch and Plivo (DESIGN.md section 4).

Link services (``links``), delivery of the outbox's jobs (``delivery``, ``recording``), the
sweeper, reconciliation, callbacks, Celery tasks and the provider adapters. The job and link
tables belong to ``phones``: the phones unit of work writes them in the change's transaction.
"""
