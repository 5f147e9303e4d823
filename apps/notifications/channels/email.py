"""Email: the `notifications.email` subscriber sends a person's due messages.

A message waits for its time (`Message.send_after`: a short burst window, quiet hours, the
digest hour): until then its delivery is deferred. When it is due, every due email message
of that person about the same ticket goes out as ONE email (ten updates in a minute are one
email), or, for a digest, every due message of that person. The email is multipart (plain
text and HTML), in the person's language, threaded per ticket (`Message-ID`,
`In-Reply-To`, `References` name the ticket's thread), with `List-Unsubscribe` and
one-click unsubscribe (RFC 8058).

Sending is at-least-once: an SMTP failure raises, the delivery is retried with backoff and
the messages stay pending; a worker that dies after the SMTP server accepted the mail and
before the commit sends it again on the retry (the same `Message-ID`, which mail clients
show once).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.events.consumers import Deferred

from .. import render
from ..kinds import Channel
from ..models import Digest, Message, MessageStatus, Profile

UNSUBSCRIBE_SALT = "warden.notifications.unsubscribe"
ALL_KINDS = "*"


def unsubscribe_token(user, kind: str) -> str:
    return signing.dumps({"u": user.pk, "k": kind, "s": connection.schema_name}, salt=UNSUBSCRIBE_SALT)


def read_unsubscribe_token(token: str) -> tuple[int, str]:
    """(user id, kind) of a token made in this tenant; BadSignature otherwise."""
    data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    if data.get("s") != connection.schema_name:
        raise signing.BadSignature("a token of another tenant")
    return int(data["u"]), str(data["k"])


def _domain() -> str:
    return f"{connection.tenant.slug}.{settings.WARDEN_BASE_DOMAIN}"


def thread_id(ticket) -> str:
    return f"<ticket-{ticket.number}@{_domain()}>"


def _message_id(batch: list[Message]) -> str:
    digest = hashlib.sha256(",".join(str(m.pk) for m in batch).encode()).hexdigest()[:20]
    return f"<n-{digest}@{_domain()}>"


def email_send_due(*, message_id: int) -> int:
    """Send the email that message `message_id` belongs to, once due. Returns how many
    messages went out in it (0: already sent by another delivery)."""
    message = Message.objects.select_related("notification__recipient").filter(pk=message_id).first()
    if message is None or message.status != MessageStatus.PENDING:
        return 0
    now = timezone.now()
    if message.send_after > now:
        raise Deferred("waits for its time", seconds=max(1.0, (message.send_after - now).total_seconds()))
    person = message.notification.recipient
    profile = Profile.objects.filter(user=person).first() or Profile(user=person)
    due = Message.objects.filter(
        channel=Channel.EMAIL, status=MessageStatus.PENDING, notification__recipient=person, send_after__lte=now
    )
    if profile.email_digest == Digest.IMMEDIATE:
        due = due.filter(notification__ticket_id=message.notification.ticket_id)
    batch = list(
        due.select_for_update(skip_locked=True, of=("self",))
        .select_related("notification__ticket", "notification__actor")
        .order_by("notification__ticket_id", "pk")
    )
    if message.pk not in {m.pk for m in batch}:
        return 0  # another delivery holds it and sends it
    if not person.is_active or not person.email:
        Message.objects.filter(pk__in=[m.pk for m in batch]).update(status=MessageStatus.SKIPPED, detail="no address")
        return 0
    email = build_email(person, batch, digest=profile.email_digest != Digest.IMMEDIATE)
    get_connection().send_messages([email])
    Message.objects.filter(pk__in=[m.pk for m in batch]).update(
        status=MessageStatus.SENT, sent_at=timezone.now(), batch_key=email.extra_headers["Message-ID"][:64]
    )
    return len(batch)


def build_email(person, batch: list[Message], *, digest: bool) -> EmailMultiAlternatives:
    notifications = [m.notification for m in batch]
    language = render.language_of(person)
    with translation.override(language):
        items = render.items(notifications, person, channel=Channel.EMAIL)
        tickets = {n.ticket_id for n in notifications}
        organisation = connection.tenant.brand_name
        if digest:
            subject = _("%(organisation)s: %(count)d updates") % {"organisation": organisation, "count": len(items)}
        elif len(items) == 1:
            subject = f"[#{notifications[0].ticket.number}] {items[0].headline}: {notifications[0].ticket.title}"
        else:
            subject = _("[#%(number)s] %(count)d updates: %(title)s") % {
                "number": notifications[0].ticket.number, "count": len(items), "title": notifications[0].ticket.title,
            }
        kind = notifications[0].kind if len({n.kind for n in notifications}) == 1 else ALL_KINDS
        unsubscribe = connection.tenant.url(
            reverse("notifications:unsubscribe", kwargs={"token": unsubscribe_token(person, kind)})
        )
        context = {
            "items": items,
            "subject": subject,
            "language": language,
            "organisation": organisation,
            "preferences_url": connection.tenant.url(reverse("notifications:preferences")),
            "unsubscribe_url": unsubscribe,
        }
        text = render_to_string("notifications/email/message.txt", context)
        html = render_to_string("notifications/email/message.html", context)
    headers = {
        "Message-ID": _message_id(batch),
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }
    if len(tickets) == 1 and notifications[0].ticket_id:
        root = thread_id(notifications[0].ticket)
        headers["In-Reply-To"] = root
        headers["References"] = root
    email = EmailMultiAlternatives(
        subject=subject[:200].replace("\n", " "),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[person.email],
        headers=headers,
    )
    email.attach_alternative(html, "text/html")
    return email

