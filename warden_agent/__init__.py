"""Warden's outbound-only customer agent.

Runs inside the customer's network, connects out to the tenant's Warden over HTTPS, takes
the calls queued for its connectors (internal GitHub Enterprise, ServiceNow reachable only
from inside), makes them against hosts its own allow-list names, and posts the answers
back. Nothing connects in: no inbound firewall change.

    python -m warden_agent --url https://acme.warden.example \\
        --token-file /etc/warden-agent/token --allow-host ghe.corp.example

Python's standard library only (requirements.txt lists nothing to install), so it runs
where no package index is reachable. See docs/connectors.md, "Customer agent".
"""

VERSION = "1.0.0"
