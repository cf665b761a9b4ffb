"""What every daemon (pool, fleetd, rigsim) needs, written once.

- `plumbing.config`: reading a TOML file into a pydantic model, and the one error format
  (`FILE: KEY: what was expected (got WHAT)`, credentials masked), old spellings read
  with a deprecation message;
- `plumbing.listen`: the listen type (`HOST:PORT`, loopback only where there is no
  authentication) and the `[metrics]`-style table every endpoint section extends;
- `plumbing.endpoint`: the aiohttp server of `GET /metrics` (and a daemon's extra routes);
- `plumbing.eventloop`: running a daemon on uvloop where it is installed;
- `plumbing.lifecycle`: `async with` start/stop, and cancel-and-wait for a task;
- `plumbing.catalog` and `rigs.toml`: the rig models fleetd plans with and rigsim emulates;
- `plumbing.redact`: credentials out of text that reaches a terminal or a log;
- `plumbing.netaddr`: what counts as a loopback address, and HOST:PORT parsing;
- `plumbing.escape`: outside text made safe to show on one line;
- `plumbing.logs`: the daemons' log format, one record per line whatever it carries.

It imports none of pool, fleetd, rigsim, hashing or surplus (they import it;
tests/test_layers.py checks), and of third-party packages only those every daemon already
uses (pydantic, aiohttp, prometheus_client, uvloop), each in the module that needs it.
"""
