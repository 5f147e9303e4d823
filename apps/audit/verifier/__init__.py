"""The audit chain verifier, in parts. Python standard library only, no Django, no ORM.

One module per concern, in dependency order (each imports only from those before it):

* `canonical`: RFC 8785 canonical JSON (the float-free subset payloads use);
* `hashing`: event hashes and checkpoint messages (the chain format);
* `ed25519`: Ed25519 signature verification (RFC 8032);
* `chain`: the verifier (`ChainVerifier`, `verify_rows`, `verify_segment`);
* `cli`: the segment verifier's command line (`main`).

The app imports them through `apps.audit.verify`, which re-exports their public names.
An evidence pack ships them as one file: `assemble.py` (not a part) joins the parts and
apps/audit/pack_main.py into verify_pack.py, so every part must stay standard library
only, and may import another part only in its leading import block.
"""
