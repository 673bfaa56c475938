from __future__ import annotations

from rest_framework import serializers

from audit.models import AuditEntry


class AuditEntryOutput(serializers.ModelSerializer):
    phone_id = serializers.IntegerField(allow_null=True)
    changes = serializers.DictField(child=serializers.ListField(allow_null=True))
    payload = serializers.DictField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "event",
            "payload",
            "changes",
            "phone_id",
            "account_id",
            "operator_email",
            "operator_roles",
            "origin",
            "request_id",
            "ip_address",
            "created_at",
        ]
        read_only_fields = fields
