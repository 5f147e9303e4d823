"""The fake GitHub behaves like the real service where Warden depends on it (paging with
Link headers, since, bad credentials, 429 with Retry-After, signed deliveries, lost
deliveries not sent again), and runs on its own (`python -m fakes.github`); and the pure
pieces that read GitHub (signature, Link header, payloads)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from apps.connectors.github import paging, payloads, signature
from fakes.github import FakeGitHub, sign

TOKEN = "ghp_fake"
ROOT = Path(__file__).resolve().parents[2]


def _get(fake: FakeGitHub, path: str, token: str = TOKEN):
    request = urllib.request.Request(fake.url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


@pytest.fixture
def fake():
    with FakeGitHub(token=TOKEN) as gh:
        gh.add_repo("acme/app")
        yield gh


def test_lists_are_paged_with_link_headers(fake):
    for n in range(45):
        fake.open_issue("acme/app", f"issue {n}")
    status, headers, first = _get(fake, "/repos/acme/app/issues?per_page=20&state=all")
    assert status == 200
    assert len(first) == 20
    links = paging.links(headers["Link"])
    assert set(links) == {"next", "last"}
    assert "page=2" in links["next"]
    assert "page=3" in links["last"]
    status, headers, last = _get(fake, "/repos/acme/app/issues?per_page=20&state=all&page=3")
    assert len(last) == 5
    assert set(paging.links(headers["Link"])) == {"first", "prev"}
    _, _, capped = _get(fake, "/repos/acme/app/issues?per_page=500&state=all")
    assert len(capped) == 45  # at most 100 a page
    _, headers, default = _get(fake, "/repos/acme/app/issues?state=all")
    assert len(default) == 30


def test_since_and_state_filter_the_issue_list(fake):
    fake.open_issue("acme/app", "old")
    fake.open_issue("acme/app", "new")
    fake.close_issue("acme/app", 1)
    _, _, open_only = _get(fake, "/repos/acme/app/issues")
    assert [i["number"] for i in open_only] == [2]
    _, _, everything = _get(fake, "/repos/acme/app/issues?state=all&sort=updated&direction=asc&since=2000-01-01T00:00:00Z")
    assert {i["number"] for i in everything} == {1, 2}
    _, _, none = _get(fake, "/repos/acme/app/issues?state=all&since=2999-01-01T00:00:00Z")
    assert none == []


def test_bad_credentials_and_rate_limits(fake):
    status, _, body = _get(fake, "/user", token="wrong")
    assert (status, body["message"]) == (401, "Bad credentials")
    status, _, body = _get(fake, "/user")
    assert (status, body["login"]) == (200, "warden-bot")
    fake.throttle(1, retry_after=7)
    status, headers, _ = _get(fake, "/user")
    assert status == 429
    assert headers["Retry-After"] == "7"
    assert _get(fake, "/user")[0] == 200
    assert int(_get(fake, "/user")[1]["X-RateLimit-Remaining"]) < 5000
    assert _get(fake, "/repos/acme/app/issues/9")[0] == 404


def test_deliveries_are_signed_and_lost_ones_are_not_sent_again(fake):
    received = []

    def transport(url, headers, body):
        received.append((url, headers, body))
        return 202

    fake.add_hook("http://hooks.invalid/hooks/github/", secret="s3cret-webhook-value", transport=transport)
    fake.open_issue("acme/app", "one")
    [delivery] = fake.deliver_pending()
    url, headers, body = received[0]
    assert headers["X-GitHub-Event"] == "issues"
    assert headers["X-GitHub-Delivery"] == delivery.guid
    assert signature.verify("s3cret-webhook-value", body, headers["X-Hub-Signature-256"])
    assert headers["X-Hub-Signature"] == sign("s3cret-webhook-value", body, "sha1")
    assert json.loads(body)["action"] == "opened"
    fake.drop_deliveries = True
    fake.comment("acme/app", 1, "lost")
    assert fake.deliver_pending() == []
    assert fake.deliveries[-1].dropped
    assert len(received) == 1
    fake.redeliver(delivery.guid)
    assert received[-1][1]["X-GitHub-Delivery"] == delivery.guid


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_it_runs_standalone_on_loopback():
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "fakes.github", "--port", str(port), "--token", "ghp_cli", "--repo", "acme/app"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = proc.stdout.readline().decode()
        assert json.loads(line)["url"] == f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/repos/acme/app",
                                                 headers={"Authorization": "token ghp_cli"})
                with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - loopback
                    assert json.loads(response.read())["full_name"] == "acme/app"
                break
            except OSError:
                assert time.monotonic() < deadline, "the fake did not answer"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
    with pytest.raises(ValueError, match="loopback"):
        FakeGitHub(host="0.0.0.0")  # noqa: S104 - the point of the test


# --- the pure pieces -----------------------------------------------------------------


def test_the_signature_check():
    body = b'{"a": 1}'
    good = signature.sign("secret-value", body)
    assert good.startswith("sha256=")
    assert len(good) == 71
    assert signature.verify("secret-value", body, good)
    assert not signature.verify("secret-value", body + b"\n", good)
    assert not signature.verify("other", body, good)
    assert not signature.verify("", body, signature.sign("", body))
    assert not signature.verify("secret-value", body, None)
    assert not signature.verify("secret-value", body, good.replace("sha256=", "sha1="))
    assert not signature.verify("secret-value", body, "sha256=\u00e9" + good[8:])


def test_next_pages_stay_on_the_connectors_host():
    base = "https://api.github.com"
    header = ('<https://api.github.com/repos/o/r/issues?page=2&per_page=100>; rel="next", '
              '<https://api.github.com/x?page=9>; rel="last"')
    assert paging.next_path(header, base_url=base) == "/repos/o/r/issues?page=2&per_page=100"
    assert paging.next_path('<https://evil.example/repos?page=2>; rel="next"', base_url=base) is None
    assert paging.next_path('<http://api.github.com/repos?page=2>; rel="next"', base_url=base) is None
    assert paging.next_path('<https://ghe.example/api/v3/repos?page=2>; rel="next"',
                            base_url="https://ghe.example/api/v3") == "/repos?page=2"
    assert paging.next_path('<https://ghe.example/other/repos>; rel="next"', base_url="https://ghe.example/api/v3") is None
    assert paging.next_path(None, base_url=base) is None


def test_payloads_keep_metadata_and_find_markers():
    body = "text <!-- warden:ticket acme#12 key=acme-github-link-3 --> more"
    assert payloads.find_marker(body) == payloads.TicketRef("acme", 12, "acme-github-link-3")
    assert payloads.find_marker("<!-- warden:ticket ACME#x -->") is None
    parsed = payloads.delivery(event="issue_comment", payload={
        "action": "created", "repository": {"full_name": "Acme/App"}, "sender": {"login": "octocat"},
        "issue": {"number": 3, "state": "open", "title": "T", "body": body, "updated_at": "2030-01-01T00:00:00Z"},
        "comment": {"id": 77, "body": "hello", "user": {"login": "octocat"}, "created_at": "2030-01-01T00:00:00Z",
                    "issue_url": "https://api.github.com/repos/acme/app/issues/3"},
    })
    assert parsed.handled
    assert parsed.repo == "acme/app"
    meta = parsed.data(full_content=False)
    assert "title" not in meta["issue"]
    assert "body" not in meta["comment"]
    assert meta["issue"]["names"] == {"tenant": "acme", "number": 12, "key": "acme-github-link-3"}
    full = parsed.data(full_content=True)
    assert (full["issue"]["title"], full["comment"]["body"]) == ("T", "hello")
    assert not payloads.delivery(event="push", payload={"ref": "x"}).handled
    for bad in ({"action": "closed", "repository": {"full_name": "a/b"}, "issue": {"number": "1", "state": "open"}},
                {"action": "closed", "repository": {"full_name": "a"}, "issue": {}},
                {"action": "closed", "repository": {"full_name": "a/b"}, "issue": {"number": 1, "state": "weird"}}):
        with pytest.raises(payloads.PayloadInvalid):
            payloads.delivery(event="issues", payload=bad)
