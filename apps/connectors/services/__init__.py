"""Every write of the connectors app: policy first (fail-closed), audited, by aggregate.

* connectors.py: create, change (dry run and secret included), enable/disable, delete,
  the automatic disable of a connector whose secret no key decrypts, last sync.
* operations.py: Test connection; dead letters (retry, discard).
* domains.py: verified custom domains of the allow-list.
* rotation.py: re-encrypting every stored secret with the newest key.
"""
