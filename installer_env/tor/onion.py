"""Tor v3 onion addresses: the checksum, and the ed25519 key an address is named after."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field

KEY_TYPE = "ED25519-V3"  # ADD_ONION's name for a v3 service key

_BASE32 = frozenset("abcdefghijklmnopqrstuvwxyz234567")


def _checksum(public_key: bytes) -> bytes:
    return hashlib.sha3_256(b".onion checksum" + public_key + b"\x03").digest()[:2]


def onion_address(public_key: bytes) -> str:
    """The v3 address of an ed25519 public key: base32(pubkey || checksum || version) + .onion."""
    if len(public_key) != 32:
        raise ValueError("an ed25519 public key has 32 bytes")
    raw = public_key + _checksum(public_key) + b"\x03"
    return base64.b32encode(raw).decode("ascii").lower() + ".onion"


def check_onion_address(address: str) -> str:
    """The address in canonical form ("<56 lower-case chars>.onion"); ValueError if it is not v3."""
    text = address.lower()
    text = text.removesuffix(".onion")
    if len(text) != 56 or not set(text) <= _BASE32:
        raise ValueError("a v3 onion address is 56 base32 characters (a-z, 2-7) before .onion")
    raw = base64.b32decode(text.upper())
    public_key, checksum, version = raw[:32], raw[32:34], raw[34]
    if version != 3:
        raise ValueError(f"onion address version {version}, not 3")
    if checksum != _checksum(public_key):
        raise ValueError("the onion address checksum does not match (mistyped or altered)")
    return text + ".onion"


def is_onion_address(address: str) -> bool:
    try:
        check_onion_address(address)
    except ValueError:
        return False
    return True


# --- ed25519, only as much as needed to name a key's address without asking tor --------------------
# RFC 8032 arithmetic on the twisted Edwards curve, extended coordinates. Secret keys are tor's
# "expanded" form: a clamped scalar and a 32-byte nonce prefix; the public key is scalar * B.

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P


def _recover_x(y: int, sign: int) -> int:
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    return _P - x if x % 2 != sign else x


_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _recover_x(_BY, 0)
_BASE = (_BX, _BY, 1, _BX * _BY % _P)
_Point = tuple[int, int, int, int]


def _add(p: _Point, q: _Point) -> _Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _scalar_base(scalar: int) -> bytes:
    result: _Point = (0, 1, 1, 0)
    point: _Point = _BASE
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    x, y, z, _ = result
    z_inv = pow(z, _P - 2, _P)
    x, y = x * z_inv % _P, y * z_inv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _clamped(scalar: bytes) -> bool:
    return scalar[0] & 7 == 0 and scalar[31] & 0xC0 == 0x40


@dataclass(frozen=True)
class OnionKey:
    """The service's ed25519 key in the form ADD_ONION ED25519-V3 takes, and its address."""

    secret: bytes = field(repr=False)  # 64-byte expanded secret key; never shown
    address: str = ""

    @classmethod
    def from_secret(cls, secret: bytes) -> OnionKey:
        if len(secret) != 64:
            raise ValueError(f"the key has {len(secret)} bytes, not 64")
        if not _clamped(secret[:32]):
            raise ValueError("the key is not an ed25519 secret key")
        address = onion_address(_scalar_base(int.from_bytes(secret[:32], "little")))
        return cls(secret, check_onion_address(address))

    @classmethod
    def generate(cls) -> OnionKey:
        digest = bytearray(hashlib.sha512(secrets.token_bytes(32)).digest())
        digest[0] &= 248
        digest[31] &= 63
        digest[31] |= 64
        return cls.from_secret(bytes(digest))

    def blob(self) -> str:
        return base64.b64encode(self.secret).decode("ascii")
