"""Small pieces every daemon (pool, fleetd, rigsim) needs the same way.

- `plumbing.redact`: credentials out of text that reaches a terminal or a log;
- `plumbing.netaddr`: what counts as a loopback listen address, and HOST:PORT parsing;
- `plumbing.escape`: outside text made safe to show on one line;
- `plumbing.logs`: the daemons' log format, one record per line whatever it carries.

It imports none of pool, fleetd, rigsim or surplus (they import it), and nothing beyond
the standard library, so any part of the tree can rely on it.
"""
