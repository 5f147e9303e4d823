"""`POST /hooks/slack/interactivity/` and `POST /hooks/slack/events/` on the tenant's host
(CONTRACT.md, "Inbound webhooks"): no session, no CSRF, Slack's signature instead.

Order, as for the GitHub hook (docs/decisions/0023), so that nothing unverified is
written or even parsed:

1. the raw body is read (413 above MAX_BYTES);
2. `X-Slack-Signature` is checked over `v0:<X-Slack-Request-Timestamp>:<raw body>` with
   the workspace's signing secret (slack_sdk's SignatureVerifier, constant time), and the
   timestamp must be within 300 s of now: anything else is 401 and nothing written. A
   body re-serialised on the way (the same JSON, other bytes) no longer matches: 401;
3. only then is the payload parsed.

Interactivity: the click is handled in the request (`services.interaction_receive`):
one short transaction to record it (a replay of the same body finds it and answers 200
with nothing done), the Slack user looked up (`users.info`, cached, at most 2 s), and
`proposal_decide`, a few milliseconds of database work. Slack waits 3 s; a click decided
at once lets a refusal be told to the person while they look at the card. The card itself
is updated by the outbox subscriber of `triage.proposal.decided`.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from slack_sdk.signature import SignatureVerifier

from apps.core import secrets
from apps.core.problems import problem_response
from apps.notifications.models import SlackWorkspace

from . import services

logger = logging.getLogger(__name__)

MAX_BYTES = 1024 * 1024
MAX_AGE_SECONDS = 300


def _unauthorised():
    return problem_response(401, _("The Slack request signature (X-Slack-Signature, X-Slack-Request-Timestamp) is "
                                   "missing, too old or does not match the signing secret."))


def _verified_body(request: HttpRequest):
    """(raw body, None) when Slack signed it; (None, the answer) otherwise. Reads only."""
    if request.method != "POST":
        return None, problem_response(405, _("Slack POSTs its requests."), headers={"Allow": "POST"})
    if connection.schema_name == "public":
        return None, problem_response(404, _("Slack requests are received on an organisation's own address."))
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BYTES:
        return None, problem_response(413, _("The request is larger than %(limit)s bytes.") % {"limit": MAX_BYTES})
    body = request.body
    if len(body) > MAX_BYTES:
        return None, problem_response(413, _("The request is larger than %(limit)s bytes.") % {"limit": MAX_BYTES})
    stored = SlackWorkspace.objects.filter(pk=1).values_list("signing_secret", flat=True).first()
    if not stored:
        return None, _unauthorised()
    try:
        secret = secrets.decrypt(stored)
    except secrets.SecretUnreadable:
        logger.error("slack hook: the signing secret cannot be decrypted (rotate_secrets, then set it again)")
        return None, _unauthorised()
    timestamp = request.headers.get("X-Slack-Request-Timestamp") or ""
    signature = request.headers.get("X-Slack-Signature") or ""
    if not timestamp.isdigit() or len(timestamp) > 12 or not signature:
        return None, _unauthorised()
    verifier = SignatureVerifier(secret)
    if abs(verifier.clock.now() - int(timestamp)) > MAX_AGE_SECONDS:
        return None, _unauthorised()
    try:
        valid = verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except UnicodeDecodeError:
        valid = False
    return (body, None) if valid else (None, _unauthorised())


@csrf_exempt
def slack_interactivity(request: HttpRequest):
    body, refused = _verified_body(request)
    if refused is not None:
        return refused
    try:
        raw = parse_qs(body.decode("utf-8"), max_num_fields=10).get("payload") or [""]
        payload = json.loads(raw[0])
    except (ValueError, UnicodeDecodeError):
        return problem_response(400, _("The interaction payload could not be read."))
    result = services.interaction_receive(key=services.interaction_key_http(body), source="http", payload=payload)
    # Slack shows nothing of this answer for a button click; the person is told by an
    # ephemeral message and the card's update.
    return HttpResponse(status=200, headers={"X-Warden-Outcome": result.outcome})


@csrf_exempt
def slack_events(request: HttpRequest):
    body, refused = _verified_body(request)
    if refused is not None:
        return refused
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return problem_response(400, _("The event could not be read."))
    if not isinstance(payload, dict):
        return problem_response(400, _("The event could not be read."))
    if payload.get("type") == "url_verification":
        return JsonResponse({"challenge": str(payload.get("challenge") or "")[:200]})
    return JsonResponse({"ok": True})  # acknowledged; Warden acts on no Events API event yet
