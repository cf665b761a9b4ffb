"""Stratum over TLS (`stratum+ssl://`): the listener's SSL context and its session.

The TLS listener (`[stratum] tls_listen`, with `tls_cert` and `tls_key` PEM files) serves
the same sessions as the plain one, through asyncio's TLS transport. One difference
matters: the fan-out writes a new job straight to an idle socket's descriptor (send()
without the event loop), which on a TLS connection would put plaintext on the wire, so
a TLS session has no descriptor for it (`fd = -1`) and always goes through its transport.

Behind HAProxy the proxy can terminate TLS instead (configs/haproxy.cfg says how); the
pool's own TLS listener takes no PROXY header (the handshake comes first).
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from pool.stratum.session import StratumSession


class TlsSetupError(ValueError):
    """The certificate or key cannot be loaded (the message names the key to fix)."""


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context for TLS 1.2 and later with the operator's certificate chain."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for name, path in (("stratum.tls_cert", cert), ("stratum.tls_key", key)):
        if not path.is_file():
            raise TlsSetupError(f"{name}: no such file: {str(path)[:300]!r}")
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise TlsSetupError(
            f"stratum.tls_cert/stratum.tls_key: cannot load the certificate chain: "
            f"{str(exc)[:300]}"
        ) from None
    return context


class TlsSession(StratumSession):
    __slots__ = ()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.fd = -1  # never the raw socket: it would bypass the encryption
