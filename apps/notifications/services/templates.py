"""A tenant's own wording for a kind of notification (tenant admins; policy
`notification.configure`; audited). A template that does not compile or render with the
sample variables is refused when it is saved, never found broken when a message is sent."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.policies.services import policy_require

from ..kinds import Channel, Kind
from ..models import TemplateOverride
from ..render import TemplateInvalid, render_override, sample_context
from .preferences import NOTIFICATION_CONFIGURE

MAX_CHARS = 2000


def template_problems(*, subject: str, body: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, text in (("subject", subject), ("body", body)):
        if len(text or "") > MAX_CHARS:
            errors[field] = [_("At most %(max)s characters.") % {"max": MAX_CHARS}]
            continue
        try:
            render_override(text or "", sample_context())
        except TemplateInvalid as exc:
            errors[field] = [_("The template does not work: %(problem)s") % {"problem": exc}]
    if not (body or "").strip():
        errors.setdefault("body", []).append("The text is required.")
    return errors


@transaction.atomic
def template_save(*, actor, kind: str, channel: str, language: str, subject: str, body: str,
                  template: TemplateOverride | None = None) -> TemplateOverride:
    policy_require(actor, NOTIFICATION_CONFIGURE, template, {"object": "template", "kind": kind})
    errors = template_problems(subject=subject, body=body)
    if kind not in Kind.values:
        errors["kind"] = [_("Unknown kind.")]
    if channel not in Channel.values:
        errors["channel"] = [_("Unknown channel.")]
    if language not in dict(settings.LANGUAGES):
        errors["language"] = [_("Unknown language.")]
    clash = TemplateOverride.objects.filter(kind=kind, channel=channel, language=language)
    if template is not None and template.pk:
        clash = clash.exclude(pk=template.pk)
    if clash.exists():
        errors.setdefault("kind", []).append(_("There is a template for this kind, channel and language already."))
    if errors:
        raise ApplicationError(_("The template is not valid."), errors=errors)
    creating = template is None or template.pk is None
    template = template or TemplateOverride()
    template.kind, template.channel, template.language = kind, channel, language
    template.subject, template.body, template.updated_at = subject or "", body, timezone.now()
    template.save()
    audit_record(actor=actor, action="notification.template_created" if creating else "notification.template_updated",
                 target=template, payload={"kind": kind, "channel": channel, "language": language})
    return template
