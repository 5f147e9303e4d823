"""Disabling a connector whose secret no configured key decrypts (called by the client
at call time and by `rotate_secrets`; re-exported by services.connectors). Its own module
so that the client, which the services use, does not import the services back."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.audit.services import audit_record
from apps.events.services.emit import emit

from .choices import Status
from .events import ConnectorDisabled
from .models import Connector

logger = logging.getLogger(__name__)

SECRET_UNREADABLE = "secret_unreadable"


def connector_disable_unreadable(*, connector: Connector) -> bool:
    """Switch off a connector whose secret no configured key decrypts: audited, an event
    for the admins (`connector.disabled`), the reason on the admin page. Not a policy
    decision: it is the system protecting itself (a tenant rule must not keep a broken
    connector looping). True when it was active until now."""
    reason = gettext("Its secret cannot be decrypted with the configured keys (WARDEN_SECRETS_KEY): set it again, "
                     "then enable the connector.")
    with transaction.atomic():
        updated = Connector.objects.filter(pk=connector.pk, status=Status.ACTIVE).update(
            status=Status.DISABLED, disabled_reason=reason[:300], updated_at=timezone.now()
        )
        connector.status, connector.disabled_reason = Status.DISABLED, reason[:300]
        if not updated:
            return False
        logger.error("connector %s disabled: its secret cannot be decrypted with the configured keys", connector.name)
        audit_record(actor=None, action="connector.disabled", target=connector,
                     payload={"name": connector.name, "reason": SECRET_UNREADABLE})
        emit(ConnectorDisabled(connector_id=connector.pk, reason=SECRET_UNREADABLE))
    return True


