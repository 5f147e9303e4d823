"""Local and demo installs keep mail on disk and show it to platform admins at /mail/;
where mail is really sent there is no such page."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives, get_connection
from django.test import Client

from apps.core import mail


def _send(subject: str) -> None:
    message = EmailMultiAlternatives(subject=subject, body="Plain words.", to=["someone@alpha.test"])
    message.attach_alternative("<p>Plain words.</p>", "text/html")
    get_connection("apps.core.mail.CaptureBackend").send_messages([message])


def test_kept_mail_is_listed_and_read_by_platform_admins_only(db, settings, tmp_path, django_user_model):
    settings.WARDEN_MAIL_CAPTURE_DIR = str(tmp_path / "mail")
    _send("First <message>")
    _send("Second message")
    kept = mail.captured()
    assert [m.subject for m in kept] == ["Second message", "First <message>"]
    assert kept[0].text.strip() == "Plain words."
    anonymous = Client(HTTP_HOST="localhost").get("/mail/")
    assert anonymous.status_code == 302
    admin = django_user_model.objects.create_superuser(email="root@platform.test", password="x-long-enough-1")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    page = client.get("/mail/").content.decode()
    assert "First &lt;message&gt;" in page
    assert client.get(f"/mail/{kept[0].name}/").status_code == 200
    assert client.get("/mail/..%2Fetc%2Fpasswd/").status_code == 404


def test_no_mailbox_where_mail_is_sent(db, settings):
    settings.WARDEN_MAIL_CAPTURE_DIR = ""
    assert Client(HTTP_HOST="localhost").get("/mail/").status_code == 404


def test_the_platform_home_works_for_a_signed_in_platform_admin(db, django_user_model):
    admin = django_user_model.objects.create_superuser(email="root2@platform.test", password="x-long-enough-1")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    page = client.get("/")
    assert page.status_code == 200
    assert "/admin/logout/" in page.content.decode()
