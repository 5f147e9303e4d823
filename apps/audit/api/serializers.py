from rest_framework import serializers

from ..models import AuditEvent


class AuditEventOutputSerializer(serializers.ModelSerializer):
    payload = serializers.JSONField(source="payload_data", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "created_at",
            "actor_id",
            "actor_label",
            "action",
            "target_type",
            "target_id",
            "payload",
            "request_id",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields
