"""The policy actions of the connectors app (registered from ConnectorsConfig.ready()).

The baseline grants them to tenant admins ("admins may do everything") and to the
system (operator commands); agents and requesters are denied. Writes *through* a
connector to the outside system are the separate, capped `connector.write`."""

from __future__ import annotations

CONNECTOR_CONFIGURE = "connector.configure"
CONNECTOR_OPERATE = "connector.operate"
SECRETS_ROTATE = "secrets.rotate"

DESCRIPTIONS = {
    CONNECTOR_CONFIGURE: "Create, change or remove connectors (URL, credentials, dry run, write cap, status), "
                         "verified custom domains and customer agents (register, revoke) (context: operation)",
    CONNECTOR_OPERATE: "Test a connector's connection, retry or discard its dead letters (context: operation)",
    SECRETS_ROTATE: "Re-encrypt every stored secret with the newest key (operator command rotate_secrets)",
}
