"""A fake DNS for the tests (WARDEN_CONNECTORS_RESOLVER in config/settings/test.py):
names answer from `ANSWERS`; an unknown name fails like NXDOMAIN, so no test ever asks
real DNS. A value may be a list of addresses, or a list of lists answered in turn (the
last one repeats), for rebinding tests. `LOOKUPS` records every question.

    from tests.fakes import dns
    dns.ANSWERS["evil.service-now.com"] = [["1.2.3.4"], ["10.0.0.5"]]
"""

from __future__ import annotations

import socket

DEFAULTS: dict[str, list] = {
    "acme.service-now.com": ["93.184.216.34"],
    "api.github.com": ["140.82.121.6"],
}
ANSWERS: dict[str, list] = dict(DEFAULTS)
LOOKUPS: list[str] = []
_TURNS: dict[str, int] = {}


def reset() -> None:
    ANSWERS.clear()
    ANSWERS.update(DEFAULTS)
    LOOKUPS.clear()
    _TURNS.clear()


def resolve(host: str, port: int) -> list[str]:
    LOOKUPS.append(host)
    answer = ANSWERS.get(host)
    if answer is None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (fake DNS)")
    if answer and isinstance(answer[0], list):
        turn = _TURNS.get(host, 0)
        _TURNS[host] = turn + 1
        return list(answer[min(turn, len(answer) - 1)])
    return list(answer)
