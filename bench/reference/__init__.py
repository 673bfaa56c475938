"""The reference: what a plain DRF project would write for the same operations.

One APIView per operation, a ModelSerializer, the same inserts (phone + audit row) in one
transaction, no authentication, served by the same gunicorn set-up as the product
(``bench.reference.wsgi``), against the same database tables.
"""
