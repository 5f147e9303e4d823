"""`POST /hooks/github/` on the tenant's host (CONTRACT.md, "Inbound webhooks").

The admin pastes `https://<tenant host>/hooks/github/?connector=<name>` into the
repository's (or organisation's, or App's) webhook settings with the connector's webhook
secret, content type JSON (form-encoded works too), events "Issues" and "Issue comments".
Without `?connector=`, the tenant's GitHub connectors that have a secret are tried in turn
(at most WARDEN_GITHUB_WEBHOOK_MAX_CANDIDATES).

Order, so that nothing unverified is ever written:

1. the body is read (refused with 413 above WARDEN_GITHUB_WEBHOOK_MAX_BYTES);
2. `X-Hub-Signature-256` is checked against the raw body with each candidate's secret in
   constant time; no match (a missing or bad signature, an unknown connector): 401
   problem details and nothing written, not even a log row in the database;
3. the headers and the payload are parsed (400 when unusable);
4. `ping` is answered 200; events Warden does not act on are answered 202 and not stored;
5. the delivery is stored once per `X-GitHub-Delivery` together with its outbox event in
   one transaction, and answered 202 (a repeated delivery: 200, nothing written). The
   outbox's subscriber applies it after commit, so the answer never waits for the
   ticket work (GitHub gives a hook 10 seconds).
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs

from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from apps.core import secrets
from apps.core.problems import problem_response

from ..choices import Status
from ..models import Connector, GitHubSettings
from . import conf, inbound, payloads, signature

logger = logging.getLogger(__name__)

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
_GUID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_EVENT = re.compile(r"^[a-z_]{1,32}$")


def _unauthorised():
    return problem_response(401, _("The webhook signature (X-Hub-Signature-256) is missing or does not match any "
                                   "GitHub connector's secret."))


def _verified_connector(name: str | None, body: bytes, header: str | None) -> Connector | None:
    """The GitHub connector whose webhook secret signed `body`, or None. Reads only."""
    if not header:
        return None
    rows = GitHubSettings.objects.select_related("connector").filter(connector__kind="github").exclude(
        webhook_secret="")
    if name is not None:
        rows = rows.filter(connector__name=name)
    for row in rows.order_by("pk")[: int(conf.get("WARDEN_GITHUB_WEBHOOK_MAX_CANDIDATES"))]:
        try:
            secret = secrets.decrypt(row.webhook_secret)
        except secrets.SecretUnreadable:
            logger.error("github hook: the webhook secret of connector %s cannot be decrypted (rotate_secrets, then "
                         "set it again)", row.connector.name)
            continue
        if signature.verify(secret, body, header):
            return row.connector
    return None


def _payload(request: HttpRequest, body: bytes):
    content_type = (request.content_type or "").lower()
    if content_type == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("utf-8"), max_num_fields=10).get("payload") or [""]
        return json.loads(values[0])
    return json.loads(body.decode("utf-8"))


@csrf_exempt
def github_hook(request: HttpRequest):
    if request.method != "POST":
        return problem_response(405, _("Deliveries are POSTed."), headers={"Allow": "POST"})
    if connection.schema_name == "public":
        return problem_response(404, _("Webhooks are received on an organisation's own address."))
    limit = int(conf.get("WARDEN_GITHUB_WEBHOOK_MAX_BYTES"))
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return problem_response(413, _("The delivery is larger than %(limit)s bytes.") % {"limit": limit})
    try:
        body = request.body
    except RequestDataTooBig:
        return problem_response(413, _("The delivery is larger than %(limit)s bytes.") % {"limit": limit})
    if len(body) > limit:
        return problem_response(413, _("The delivery is larger than %(limit)s bytes.") % {"limit": limit})
    connector = _verified_connector(request.GET.get("connector"), body, request.headers.get(signature.HEADER))
    if connector is None:
        return _unauthorised()
    # Verified: from here on the sender holds the connector's webhook secret.
    event = request.headers.get(EVENT_HEADER, "")
    guid = request.headers.get(DELIVERY_HEADER, "")
    if not _EVENT.match(event) or not _GUID.match(guid):
        return problem_response(400, _("X-GitHub-Event and X-GitHub-Delivery are required."))
    if event == "ping":
        return JsonResponse({"status": "pong", "connector": connector.name})
    if connector.status != Status.ACTIVE:
        return problem_response(503, _("Connector %(name)s is disabled; the reconciliation catches up once it is "
                                       "enabled.") % {"name": connector.name})
    try:
        parsed = payloads.delivery(event=event, payload=_payload(request, body))
    except (ValueError, UnicodeDecodeError) as exc:  # PayloadInvalid and JSON errors are ValueErrors
        return problem_response(400, _("The payload could not be read: %(error)s") % {"error": str(exc)[:200]})
    if not parsed.handled:
        return JsonResponse({"status": "ignored", "event": event, "action": parsed.action}, status=202)
    delivery, created = inbound.github_delivery_receive(connector=connector, guid=guid, parsed=parsed)
    if not created:
        return JsonResponse({"status": "duplicate", "delivery": guid}, status=200)
    return JsonResponse({"status": "accepted", "delivery": guid}, status=202)
