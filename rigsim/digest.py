"""HTTP digest authentication (RFC 7616, MD5, qop="auth"), the server side, as pure code.

Stock Antminer firmware guards its web interface with digest auth (lighttpd, realm
"antMiner Configuration"); pyasic's factory recognises the firmware by that realm in the
401 challenge, and its web client answers the challenge with httpx.DigestAuth.

Nonces are stateless: the issue time and an HMAC of it under a per-server secret, so any
nonce this server issued within `nonce_ttl_s` verifies without a table of clients; an
older one gets a fresh challenge marked stale. Header sizes and field counts are bounded.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import Enum

MAX_HEADER = 4096
_FIELD = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"  # no credentials: challenge
    BAD = "bad"  # wrong user, password or malformed header: challenge again
    STALE = "stale"  # right credentials, expired nonce: challenge with stale=true


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_header(header: str) -> dict[str, str] | None:
    """The fields of a `Digest k=v, ...` Authorization header; None when it is not one."""
    if len(header) > MAX_HEADER:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _FIELD.match(rest, pos)
        if m is None or m.end() == pos or len(fields) >= 16:
            return None
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        fields[m.group(1).lower()] = value
        pos = m.end()
    return fields


@dataclass
class DigestAuth:
    """One server's digest realm and its single account."""

    realm: str
    username: str
    password: str
    nonce_ttl_s: float = 300.0
    secret: bytes = b""

    def __post_init__(self) -> None:
        if not self.secret:
            self.secret = secrets.token_bytes(16)

    def _nonce(self, now: float) -> str:
        stamp = f"{int(now):x}"
        mac = hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{stamp}{mac}"

    def _nonce_age(self, nonce: str, now: float) -> float | None:
        stamp, mac = nonce[:-24], nonce[-24:]
        want = hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        if not stamp or not hmac.compare_digest(mac, want):
            return None
        try:
            return now - int(stamp, 16)
        except ValueError:
            return None

    def challenge(self, now: float, stale: bool = False) -> str:
        """The WWW-Authenticate header of a 401 reply."""
        extra = ", stale=true" if stale else ""
        return (
            f'Digest realm="{self.realm}", nonce="{self._nonce(now)}", qop="auth", '
            f"algorithm=MD5{extra}"
        )

    def check(self, header: str | None, method: str, uri: str, now: float) -> Verdict:
        """Whether the request's Authorization header proves the password."""
        if not header:
            return Verdict.MISSING
        f = parse_header(header)
        if f is None or any(k not in f for k in ("username", "realm", "nonce", "uri", "response")):
            return Verdict.BAD
        if f.get("algorithm", "MD5").upper() != "MD5" or f["realm"] != self.realm:
            return Verdict.BAD
        if f["uri"] != uri:
            return Verdict.BAD
        ha1 = _md5(f"{self.username}:{self.realm}:{self.password}")
        ha2 = _md5(f"{method}:{f['uri']}")
        qop = f.get("qop")
        if qop == "auth":
            if "nc" not in f or "cnonce" not in f:
                return Verdict.BAD
            want = _md5(f"{ha1}:{f['nonce']}:{f['nc']}:{f['cnonce']}:auth:{ha2}")
        elif qop is None:
            want = _md5(f"{ha1}:{f['nonce']}:{ha2}")
        else:
            return Verdict.BAD
        if f["username"] != self.username or not hmac.compare_digest(want, f["response"]):
            return Verdict.BAD
        age = self._nonce_age(f["nonce"], now)
        if age is None:
            return Verdict.BAD
        return Verdict.OK if 0 <= age <= self.nonce_ttl_s else Verdict.STALE
