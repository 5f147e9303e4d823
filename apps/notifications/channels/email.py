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
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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
from .common import due_state, mark_sent

logger = logging.getLogger(__name__)

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


# How many other people's due emails one delivery sends along with its own (one SMTP
# connection for all): a fan-out to a thousand people is a few dozen deliveries that
# send and many that find their email already gone.
BATCH_PEOPLE = 250
SMTP_CONNECTIONS = 4  # the others' emails go out over this many connections at once


@dataclass
class _Group:
    person: object
    digest: bool
    messages: list[Message]

    @property
    def ids(self) -> list[int]:
        return [m.pk for m in self.messages]


def email_send_due(*, message_id: int) -> int:
    """Send the email that message `message_id` belongs to, once due, and with it (on the
    SMTP_CONNECTIONS connections at once) the due emails of up to BATCH_PEOPLE other people. Returns how
    many messages went out (0: another delivery already sent this one).

    Only the own email's failure fails the delivery (retried with backoff); another
    person's failure leaves their messages pending for their own delivery."""
    state = due_state(message_id)
    if state is None or state[0] != MessageStatus.PENDING:
        return 0  # sent along by another delivery (most of a fan-out's are)
    now = timezone.now()
    if state[1] > now:
        raise Deferred("waits for its time", seconds=max(1.0, (state[1] - now).total_seconds()))
    message = Message.objects.select_related("notification__recipient").get(pk=message_id)
    groups = _due_groups(message, now=now)
    if not groups or message.pk not in {m.pk for m in groups[0].messages}:
        return 0  # another delivery holds it and sends it
    overrides = render.load_overrides()
    ready: list[tuple[_Group, EmailMultiAlternatives]] = []
    for group in groups:
        if not group.person.is_active or not group.person.email:
            Message.objects.filter(pk__in=group.ids).update(status=MessageStatus.SKIPPED, detail="no address")
        else:
            ready.append((group, build_email(group.person, group.messages, digest=group.digest, overrides=overrides)))
    if not ready or ready[0][0] is not groups[0]:
        return 0  # the own email went nowhere (skipped): nothing else is sent along
    with get_connection() as mail:
        mail.send_messages([ready[0][1]])  # raises: the delivery is retried, nothing else was sent
    sent = [ready[0], *_send_along(ready[1:])]
    mark_sent((group.ids, email.extra_headers["Message-ID"]) for group, email in sent)
    return sum(len(group.messages) for group, _email in sent)


def _send_along(ready: list[tuple[_Group, EmailMultiAlternatives]]) -> list[tuple[_Group, EmailMultiAlternatives]]:
    """Send the others' emails over SMTP_CONNECTIONS connections at once; returns those the
    server accepted. A connection that fails stops; what it did not send stays pending."""
    if not ready:
        return []
    chunks = [ready[i::SMTP_CONNECTIONS] for i in range(min(SMTP_CONNECTIONS, len(ready)))]

    def send(chunk):
        accepted = []
        try:
            with get_connection() as mail:
                for group, email in chunk:
                    mail.send_messages([email])
                    accepted.append((group, email))
        except Exception:  # noqa: BLE001 - left to their own deliveries, which report it
            logger.warning("email: sending along failed; %d email(s) left to their own deliveries",
                           len(chunk) - len(accepted), exc_info=True)
        return accepted

    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        return [pair for accepted in pool.map(send, chunks) for pair in accepted]


def _due_groups(message: Message, *, now) -> list[_Group]:
    """The emails due now, locked: first the one `message` belongs to (its person's due
    messages about its ticket, or all of them for a digest reader), then other people's.
    Messages another delivery has locked are left to it."""
    person = message.notification.recipient
    others = list(
        Message.objects.filter(channel=Channel.EMAIL, status=MessageStatus.PENDING, send_after__lte=now)
        .exclude(notification__recipient=person)
        .order_by("notification__recipient_id")
        .values_list("notification__recipient_id", flat=True)
        .distinct()[: BATCH_PEOPLE]
    )
    people = [person.pk, *others]
    profiles = {p.user_id: p for p in Profile.objects.filter(user_id__in=people)}
    rows = list(
        Message.objects.filter(
            channel=Channel.EMAIL, status=MessageStatus.PENDING, send_after__lte=now,
            notification__recipient_id__in=people,
        )
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("notification__ticket", "notification__actor", "notification__recipient")
        .order_by("notification__recipient_id", "notification__ticket_id", "pk")
    )
    groups: dict[tuple[int, int | None], _Group] = {}
    for row in rows:
        notification = row.notification
        profile = profiles.get(notification.recipient_id)
        digest = profile is not None and profile.email_digest != Digest.IMMEDIATE
        key = (notification.recipient_id, None if digest else notification.ticket_id)
        if key not in groups:
            groups[key] = _Group(person=notification.recipient, digest=digest, messages=[])
        groups[key].messages.append(row)
    own = next((g for g in groups.values() if message.pk in {m.pk for m in g.messages}), None)
    if own is None:
        return []
    return [own, *(g for g in groups.values() if g is not own)]


def build_email(person, batch: list[Message], *, digest: bool, overrides=None) -> EmailMultiAlternatives:
    notifications = [m.notification for m in batch]
    language = render.language_of(person)
    with translation.override(language):
        items = render.items(notifications, person, channel=Channel.EMAIL, overrides=overrides)
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

