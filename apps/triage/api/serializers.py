from __future__ import annotations

from rest_framework import serializers

from apps.core.serializers import InputSerializer

from ..choices import Verdict
from ..models import Decision, Proposal


class DecisionOutputSerializer(serializers.ModelSerializer):
    decision = serializers.CharField(source="verdict")
    decided_by = serializers.CharField(source="decided_by_label")

    class Meta:
        model = Decision
        fields = ["decision", "reason", "decided_by", "channel", "version", "changes", "policy_version", "created_at"]


class ProposalOutputSerializer(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="ticket.number")
    confidence = serializers.DecimalField(max_digits=3, decimal_places=2, coerce_to_string=False)
    rule = serializers.CharField(source="rule_name")
    decision = serializers.SerializerMethodField()
    writeback = serializers.SerializerMethodField()

    class Meta:
        model = Proposal
        fields = ["id", "ticket", "classifier", "rule", "model", "prompt_version", "prompt_hash", "confidence",
                  "rationale", "changes", "before", "version", "status", "status_reason", "writeback", "decision",
                  "created_at", "updated_at"]

    def get_decision(self, proposal) -> dict | None:
        decision = getattr(proposal, "decision", None) if hasattr(proposal, "decision") else None
        return DecisionOutputSerializer(decision).data if decision is not None else None

    def get_writeback(self, proposal) -> dict | None:
        if not proposal.writeback_status:
            return None
        return {"status": proposal.writeback_status, "detail": proposal.writeback_detail, "id": proposal.writeback_id}


class DecisionInputSerializer(InputSerializer):
    decision = serializers.ChoiceField(choices=Verdict.choices)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    version = serializers.IntegerField(min_value=1)
    changes = serializers.DictField(required=False, help_text="Edited changes to approve instead of the proposal's "
                                    "(category, team, impact, urgency, work_note).")
