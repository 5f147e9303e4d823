"""Output serializers for the policies API (input shapes live on each view)."""

from __future__ import annotations

from rest_framework import serializers

from ..models import PolicyVersion


class PolicyVersionOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by_label", read_only=True)
    rule_count = serializers.IntegerField(read_only=True)
    is_current = serializers.SerializerMethodField()

    class Meta:
        model = PolicyVersion
        fields = ["number", "comment", "created_at", "created_by", "rule_count", "is_current", "rules"]
        read_only_fields = fields

    def get_is_current(self, obj: PolicyVersion) -> bool:
        return obj.pk == self.context.get("current_version_id")
