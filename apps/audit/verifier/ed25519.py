"""Ed25519 signature verification (RFC 8032), standard library only.

Checkpoints and manifests signed with Ed25519 verify with the public key alone, so an
auditor can check them without being able to forge them. The app signs with the
`cryptography` package; this verifier is written from the RFC's definitions so that a
pack needs nothing but Python. It is slow (about a millisecond per signature) and
only ever handles public data, so constant time does not matter here.

A part of the pack's verify_pack.py (apps/audit/verifier/__init__.py).
"""

from __future__ import annotations

import hashlib

_ED_P = 2**255 - 19  # the field prime
_ED_L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
_ED_D = -121665 * pow(121666, _ED_P - 2, _ED_P) % _ED_P  # curve constant d = -121665/121666
_ED_SQRT_M1 = pow(2, (_ED_P - 1) // 4, _ED_P)  # a square root of -1


def _ed_add(one: tuple, two: tuple) -> tuple:
    """Sum of two points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z."""
    p = _ED_P
    x1, y1, z1, t1 = one
    x2, y2, z2, t2 = two
    a = (y1 - x1) * (y2 - x2) % p
    b = (y1 + x1) * (y2 + x2) % p
    c = 2 * _ED_D * t1 * t2 % p
    d = 2 * z1 * z2 % p
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _ed_double(point: tuple) -> tuple:
    p = _ED_P
    x1, y1, z1, _ = point
    a = x1 * x1 % p
    b = y1 * y1 % p
    c = 2 * z1 * z1 % p
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _ed_decode(data: bytes) -> tuple | None:
    """The point a 32-byte encoding stands for, or None if it is not a valid encoding."""
    if len(data) != 32:
        return None
    p = _ED_P
    number = int.from_bytes(data, "little")
    sign = number >> 255
    y = number & ((1 << 255) - 1)
    if y >= p:
        return None
    u = (y * y - 1) % p  # x^2 = u / v
    v = (_ED_D * y * y + 1) % p
    x = u * pow(v, p - 2, p) % p
    x = pow(x, (p + 3) // 8, p) if x else 0
    if (v * x * x - u) % p:
        x = x * _ED_SQRT_M1 % p
        if (v * x * x - u) % p:
            return None  # u/v has no square root: not on the curve
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = p - x
    return (x, y, 1, x * y % p)


def _ed_same(one: tuple, two: tuple) -> bool:
    p = _ED_P
    return (one[0] * two[2] - two[0] * one[2]) % p == 0 and (one[1] * two[2] - two[1] * one[2]) % p == 0


_ED_BASE = _ed_decode((4 * pow(5, _ED_P - 2, _ED_P) % _ED_P).to_bytes(32, "little"))  # y = 4/5, x even
_ED_ZERO = (0, 1, 1, 0)


def ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message` by `public_key`.

    RFC 8032, 5.1.7: decode A and R, refuse S >= L, k = SHA-512(R || A || M) mod L, and
    accept when [S]B = R + [k]A. Computed as [S]B + [k](-A) with one shared chain of
    doublings.
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a_point = _ed_decode(public_key)
    r_point = _ed_decode(signature[:32])
    if a_point is None or r_point is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _ED_L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _ED_L
    minus_a = ((_ED_P - a_point[0]) % _ED_P, a_point[1], a_point[2], (_ED_P - a_point[3]) % _ED_P)
    both = _ed_add(_ED_BASE, minus_a)
    total = _ED_ZERO
    for bit in range(max(s.bit_length(), k.bit_length()) - 1, -1, -1):
        total = _ed_double(total)
        pick = (s >> bit & 1, k >> bit & 1)
        if pick == (1, 1):
            total = _ed_add(total, both)
        elif pick == (1, 0):
            total = _ed_add(total, _ED_BASE)
        elif pick == (0, 1):
            total = _ed_add(total, minus_a)
    return _ed_same(total, r_point)


class Ed25519PublicKey:
    """A verification key for checkpoints signed with `algorithm: "ed25519"`.

    Keys given to the verifier as plain bytes or text are HMAC keys; an Ed25519 key must
    be wrapped in this class, so a checkpoint can never get an HMAC checked with a
    public key (which anyone could then forge).
    """

    def __init__(self, raw: bytes):
        if len(raw) != 32 or _ed_decode(bytes(raw)) is None:
            raise ValueError("an Ed25519 public key is 32 bytes encoding a curve point")
        self.raw = bytes(raw)

    @classmethod
    def from_hex(cls, text: str) -> Ed25519PublicKey:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValueError("an Ed25519 public key is 64 hexadecimal characters") from None
        return cls(raw)

    @property
    def hex(self) -> str:
        return self.raw.hex()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the raw key, hex: short enough to read out and compare."""
        return hashlib.sha256(self.raw).hexdigest()

    def verify(self, signature_hex: str, message: bytes) -> bool:
        try:
            signature = bytes.fromhex(signature_hex)
        except (TypeError, ValueError):
            return False
        return ed25519_verify(self.raw, signature, message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ed25519PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"Ed25519PublicKey({self.hex})"
