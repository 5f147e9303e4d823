"""The customer agent's own rules, without Warden: bad configuration is one line and exit
code 2 (run as `python -m warden_agent`), the allow-list, what a call may be and which
headers go out (against the TLS internal fake on 127.0.0.1), and the loop's handling of
Warden's failures (bounded, jittered back-off; exit 3 on a refused token)."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from tests.fakes.http_service import Answer
from tests.fakes.internal_service import InternalService, make_certificates
from tests.workers import ROOT
from warden_agent import calls, http, loop
from warden_agent.allowlist import AllowList, AllowListError, parse_entry
from warden_agent.config import ConfigError, load
from warden_agent.warden import Unauthorized, WardenError

TOKEN = "wagent_0123456789abcdef_" + "A" * 43


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "warden_agent", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, check=False)


@pytest.mark.parametrize(("args", "says"), [
    ([], "required"),
    (["--url", "http://acme.warden.example", "--allow-host", "a.example"], "https://"),
    (["--url", "http://acme.warden.example", "--insecure-loopback", "--allow-host", "a.example"], "this machine"),
    (["--url", "https://acme.warden.example/api", "--allow-host", "a.example"], "address only"),
    (["--url", "https://acme.warden.example", "--allow-host", "10.0.0.5"], "IP address"),
    (["--url", "https://acme.warden.example", "--allow-host", "a.example:99999"], "port"),
    (["--url", "https://acme.warden.example", "--allow-host", "a.example", "--resolve", "a.example=nowhere"],
     "HOST=ADDRESS"),
    (["--url", "https://acme.warden.example", "--allow-host", "a.example", "--poll-wait", "600"], "--poll-wait"),
])
def test_bad_configuration_is_one_line_and_exit_code_2(token_file, args, says):
    if args:
        args = [*args, "--token-file", str(token_file)]
    done = _run(*args)
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("warden-agent: error: ")
    assert says in lines[0]
    assert TOKEN not in done.stderr


def test_token_files_are_private_and_hold_a_token(tmp_path, token_file):
    base = ["--url", "https://acme.warden.example", "--allow-host", "a.example", "--token-file"]
    token_file.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        load([*base, str(token_file)])
    junk = tmp_path / "junk"
    junk.write_text("hunter2")
    junk.chmod(0o600)
    with pytest.raises(ConfigError, match="does not hold an agent token"):
        load([*base, str(junk)])
    with pytest.raises(ConfigError, match="missing"):
        load([*base, str(tmp_path / "missing")])


def test_a_loopback_warden_over_plain_http_is_reached_at_127_0_0_1(token_file, tmp_path):
    credentials = tmp_path / "credentials.json"
    credentials.write_text('{"ghe.corp.test": "token abc", "snow.corp.test": {"username": "u", "password": "p"}}')
    credentials.chmod(0o600)
    config = load(["--url", "http://acme.localhost:8000", "--insecure-loopback", "--token-file", str(token_file),
                   "--allow-host", "ghe.corp.test", "--credentials", str(credentials)])
    assert (config.scheme, config.host, config.port, config.connect_address) == ("http", "acme.localhost", 8000,
                                                                                 "127.0.0.1")
    assert config.token == TOKEN
    assert config.credentials == {"ghe.corp.test": "token abc",
                                  "snow.corp.test": "Basic " + base64.b64encode(b"u:p").decode()}


def test_the_allow_list_matches_names_and_ports():
    allow = AllowList([parse_entry("ghe.corp.test"), parse_entry("*.snow.corp.test:8443")])
    assert allow.allows("ghe.corp.test", 443)
    assert allow.allows("GHE.corp.test.", 443)
    assert not allow.allows("ghe.corp.test", 8443)
    assert allow.allows("eu.snow.corp.test", 8443)
    assert not allow.allows("snow.corp.test", 8443)
    assert not allow.allows("eu.snow.corp.test.evil.example", 8443)
    assert not allow.allows("xghe.corp.test", 443)
    for bad in ("*", "*.com", "", "a b", "a.example:0", "127.0.0.1"):
        with pytest.raises(AllowListError):
            parse_entry(bad)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"), ["ghe.corp.test"])


@pytest.fixture
def agent_config(token_file, tls, tmp_path):
    def make(port: int):
        credentials = tmp_path / "credentials.json"
        credentials.write_text('{"ghe.corp.test": "Bearer the-agents-own"}')
        credentials.chmod(0o600)
        return load(["--url", "https://acme.warden.example", "--token-file", str(token_file),
                     "--allow-host", f"ghe.corp.test:{port}", "--resolve", "ghe.corp.test=127.0.0.1",
                     "--target-ca-bundle", str(tls.ca), "--credentials", str(credentials)])

    return make


def _call(url: str, **extra) -> dict:
    return {"id": 5, "claim": 1, "method": "POST", "url": url, "connect_timeout": 2, "read_timeout": 2,
            "headers": {"Authorization": "Bearer from-warden", "Cookie": "x=1", "Idempotency-Key": "k-9",
                        "Content-Type": "application/json"},
            "body": base64.b64encode(b'{"a":1}').decode(), **extra}


def test_a_call_goes_out_with_the_agents_credentials_and_comes_back_whole(tls, agent_config):
    with InternalService(tls) as service:
        config = agent_config(service.port)
        service.script = [Answer(201, {"Set-Cookie": "s=1", "X-Total-Count": "3"}, {"number": 4})]
        result = calls.execute(_call(f"{service.url}/api/v3/issues?x=1"), config,
                               context=http.tls_context(config.target_ca_bundle), log=lambda line: None)
        assert (result["id"], result["claim"], result["status"]) == (5, 1, 201)
        assert base64.b64decode(result["body"]) == b'{"number": 4}'
        assert result["headers"]["X-Total-Count"] == "3"
        assert "Set-Cookie" not in result["headers"]
        seen = service.requests[0]
        assert (seen.method, seen.path, seen.body) == ("POST", "/api/v3/issues?x=1", b'{"a":1}')
        assert seen.headers["Authorization"] == "Bearer the-agents-own"
        assert "Cookie" not in seen.headers
        assert seen.headers["Idempotency-Key"] == "k-9"
        # A redirect is an answer, not followed; a slow answer is a read timeout.
        service.script = [Answer(302, {"Location": "https://elsewhere.example/"}), Answer(delay=3.0)]
        assert calls.execute(_call(service.url + "/r"), config, context=http.tls_context(config.target_ca_bundle),
                             log=lambda line: None)["status"] == 302
        slow = calls.execute(_call(service.url + "/slow", read_timeout=0.5), config,
                             context=http.tls_context(config.target_ca_bundle), log=lambda line: None)
        assert slow["error"]["code"] == "read_timeout"
        assert len(service.requests) == 3
        # A certificate the agent does not trust: TLS error, nothing more.
        untrusted = calls.execute(_call(service.url + "/x"), config, context=http.tls_context(None),
                                  log=lambda line: None)
        assert untrusted["error"]["code"] == "tls"


@pytest.mark.parametrize(("url", "method", "code"), [
    ("https://other.corp.test/x", "GET", "host_not_allowed"),
    ("https://ghe.corp.test:444/x", "GET", "host_not_allowed"),
    ("http://ghe.corp.test/x", "GET", "host_not_allowed"),
    ("https://127.0.0.1/x", "GET", "host_not_allowed"),
    ("https://u:p@ghe.corp.test/x", "GET", "bad_call"),
    ("https://ghe.corp.test/x", "CONNECT", "bad_call"),
])
def test_a_call_outside_the_agents_rules_is_refused_without_a_socket(agent_config, no_sockets, url, method, code):
    config = agent_config(443)
    result = calls.execute({"id": 1, "claim": 1, "method": method, "url": url}, config, log=lambda line: None)
    assert result["error"]["code"] == code
    assert no_sockets == []


def test_a_malformed_call_is_refused_not_fatal(agent_config, no_sockets):
    config = agent_config(443)
    for call in ({"id": 1, "claim": 1, "method": "GET", "url": "https://ghe.corp.test/x", "headers": ["nope"]},
                 {"id": 2, "claim": 1, "method": "GET", "url": "https://ghe.corp.test/x", "body": "%%%"},
                 {"id": 3, "claim": 1, "method": None, "url": None}):
        assert calls.execute(call, config, log=lambda line: None)["error"]["code"] == "bad_call"
    assert no_sockets == []


class _FakeWarden:
    def __init__(self, answers: list) -> None:
        self.answers = answers
        self.posted: list[dict] = []
        self.polls = 0

    def poll(self, *, wait, max_calls):
        self.polls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def results(self, results):
        self.posted.extend(results)
        return {"accepted": [r["id"] for r in results], "stale": []}


def test_the_loop_backs_off_on_errors_and_stops_on_a_refused_token(agent_config, monkeypatch):
    config = agent_config(443)
    warden = _FakeWarden([WardenError("down"), WardenError("down"),
                          [{"id": 3, "claim": 1, "method": "GET", "url": "https://nope.example/"}],
                          Unauthorized("refused")])
    slept: list[float] = []
    monkeypatch.setattr(loop.signal, "signal", lambda *args: None)
    agent = loop.Agent(config, warden=warden, sleep=slept.append)
    monkeypatch.setattr(loop.time, "monotonic", iter(range(0, 10_000, 5)).__next__)  # time flies: no real waits
    assert agent.run() == loop.EXIT_UNAUTHORIZED
    assert warden.polls == 4
    assert warden.posted == [{"id": 3, "claim": 1, "error": {"code": "host_not_allowed",
                                                             "message": "nope.example:443 is not in the agent's "
                                                                        "allow-list"}}]


def test_backoff_is_jittered_and_bounded():
    assert loop.backoff(1, rng=lambda: 0.0) == 1.0
    assert loop.backoff(1, rng=lambda: 1.0) == 2.0
    assert loop.backoff(3, rng=lambda: 0.5) == 6.0
    assert loop.backoff(50, rng=lambda: 1.0) == loop.BACKOFF_CAP
