"""Credentials never reach a terminal or a log.

A config error shows what the file said (``got '...'``), and a typo puts a URL with its
password where a list was expected: ``redact`` masks what looks like a credential in
any text before it is shown, and ``shown`` renders a config value for an error message
(masked entirely under a key whose name says it is a secret). Every daemon's config
loader uses both, so there is one rule:

- ``scheme://user:password@host`` -> ``scheme://user:***@host`` (and
  ``scheme://token@host`` -> ``scheme://***@host``: a lone user part may be an API key);
- ``password=...`` / ``token: ...`` style pairs (libpq DSNs, query strings, dict reprs)
  -> ``password=***``;
- ``Bearer ...`` / ``Basic ...`` -> ``Bearer ***``.

Masking too much is the safe side: a host name after an unencoded ``@`` in a password
may disappear from the message, a password never appears.
"""

from __future__ import annotations

import re

MASK = "***"
SHOWN_LIMIT = 200  # characters of a value shown in an error message

SECRET_KEYS = frozenset({
    "password", "passwd", "pwd", "pass", "secret", "token", "api_key", "apikey",
    "access_token", "auth", "authorization", "private_key",
})  # fmt: skip

# scheme://userinfo@ : greedy up to the last '@' of the token (a password may hold one)
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<info>[^\s'\"<>@/]*(?:@[^\s'\"<>@/]*)*)@"
)
_KEYS = "|".join(sorted((re.escape(k) for k in SECRET_KEYS), key=len, reverse=True))
_KEY = rf"(?<![A-Za-z0-9_])(?:{_KEYS})(?![A-Za-z0-9_])"
_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
# key=value (DSNs, query strings; value quoted or bare) and 'key': 'value' (reprs, JSON:
# a quoted value, so prose such as "api.token: expected ..." is left alone)
_PAIR = re.compile(
    rf"(?P<key>{_KEY}['\"]?\s*=\s*)(?P<value>{_QUOTED}|[^\s'\",;&)}}\]]+)"
    rf"|(?P<key2>{_KEY}['\"]?\s*:\s*)(?P<value2>{_QUOTED})",
    re.IGNORECASE,
)
_SCHEME_TOKEN = re.compile(r"\b(?P<kind>Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]+")


def _userinfo(match: re.Match[str]) -> str:
    info = match.group("info")
    user, colon, _secret = info.partition(":")
    if colon:
        return f"{match.group('scheme')}{user}:{MASK}@"
    return f"{match.group('scheme')}{MASK}@"


def _pair(match: re.Match[str]) -> str:
    key = match.group("key") or match.group("key2")
    value = match.group("value") or match.group("value2")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{key}{quote}{MASK}{quote}"


def redact(text: str) -> str:
    """`text` with every credential it seems to carry masked (see the module doc)."""
    if not text:
        return text
    text = _URL_USERINFO.sub(_userinfo, text)
    text = _PAIR.sub(_pair, text)
    return _SCHEME_TOKEN.sub(lambda m: f"{m.group('kind')} {MASK}", text)


def is_secret_key(name: object) -> bool:
    """Whether a config key holds a secret by its name (``token``, ``password``, ...)."""
    return isinstance(name, str) and name.lower().replace("-", "_") in SECRET_KEYS


def shown(value: object, key: object = None, limit: int = SHOWN_LIMIT) -> str:
    """A config value as an error message shows it: its repr, redacted, at most `limit`
    characters; only ``***`` when `key` names a secret."""
    if is_secret_key(key):
        return MASK
    text = redact(repr(value))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
