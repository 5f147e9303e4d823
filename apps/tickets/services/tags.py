"""Tags: a tenant admin creates, renames and deletes them; tickets carry them."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, NotFound
from apps.policies.services import policy_require

from ..actions import TAG_MANAGE
from ..models import Tag
from ..text import clean_text

logger = logging.getLogger(__name__)

# --- Tags -------------------------------------------------------------------------------


def _clean_tag_name(name: str) -> str:
    return clean_text(name, field="name", required=True, single_line=True, max_chars=50, label=_("The tag"))


@transaction.atomic
def tag_create(*, actor, name: str) -> Tag:
    policy_require(actor, TAG_MANAGE, None, {"operation": "create"})
    name = _clean_tag_name(name)
    if Tag.objects.annotate(lname=Lower("name")).filter(lname=name.lower()).exists():
        raise ApplicationError(_("The tag %(name)r already exists.") % {"name": name}, errors={"name": [_("Already exists.")]})
    try:
        with transaction.atomic():
            tag = Tag.objects.create(name=name)
    except IntegrityError as exc:  # created by someone else since the check
        raise ApplicationError(_("The tag %(name)r already exists.") % {"name": name},
                               errors={"name": [_("Already exists.")]}) from exc
    audit_record(actor=actor, action="tag.created", target=tag, payload={"name": name})
    return tag


@transaction.atomic
def tag_rename(*, actor, tag: Tag, name: str) -> Tag:
    """Rename a tag (its tickets keep it). The row is re-read and locked: the caller's
    instance may already hold the new name (a bound admin form writes it there)."""
    policy_require(actor, TAG_MANAGE, tag, {"operation": "rename"})
    name = _clean_tag_name(name)
    current = Tag.objects.select_for_update().filter(pk=tag.pk).first()
    if current is None:
        raise NotFound(_("The tag no longer exists."))
    if name == current.name:
        return current
    if Tag.objects.annotate(lname=Lower("name")).filter(lname=name.lower()).exclude(pk=tag.pk).exists():
        raise ApplicationError(_("The tag %(name)r already exists.") % {"name": name}, errors={"name": [_("Already exists.")]})
    previous, current.name = current.name, name
    try:
        with transaction.atomic():
            current.save(update_fields=["name"])
    except IntegrityError as exc:
        raise ApplicationError(_("The tag %(name)r already exists.") % {"name": name},
                               errors={"name": [_("Already exists.")]}) from exc
    audit_record(actor=actor, action="tag.renamed", target=current, payload={"from": previous, "to": name})
    return current


@transaction.atomic
def tag_delete(*, actor, tag: Tag) -> int:
    """Delete a tag (it disappears from its tickets). Returns how many tickets had it."""
    policy_require(actor, TAG_MANAGE, tag, {"operation": "delete"})
    used = tag.tickets.count()
    audit_record(actor=actor, action="tag.deleted", target=tag, payload={"name": tag.name, "tickets": used})
    tag.delete()
    return used
