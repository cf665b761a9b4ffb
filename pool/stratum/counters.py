"""The Stratum server's counters: plain integers that the metrics and the stats API read.

Their own module so that a session can count what it sees (a slow reader dropped, a
protocol error, a rejected share) without importing the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ServerStats:
    accepted: int = 0
    credited: float = 0.0  # summed difficulty of accepted shares
    rejected: dict[int, int] = field(default_factory=dict)
    blocks_found: int = 0
    blocks_accepted: int = 0
    refused_full: int = 0
    refused_banned: int = 0
    refused_per_ip: int = 0
    dropped_slow: int = 0
    idle_closed: int = 0  # no mining.subscribe in time
    unauthorized_closed: int = 0  # no successful mining.authorize in time
    line_timeouts: int = 0  # a line begun and not finished in time
    protocol_errors: int = 0
    internal_errors: int = 0  # a request that raised (a bug): answered 20, logged
    bans: int = 0
    proxy_refused: int = 0  # a PROXY header missing, malformed, or from an untrusted peer
    last_fanout_ms: float = 0.0  # new job -> last transport.write returned
    last_fanout_sessions: int = 0

    def count_reject(self, code: int) -> None:
        self.rejected[code] = self.rejected.get(code, 0) + 1
