"""A real HAProxy (Debian's `haproxy` package) for tests: configs/haproxy.cfg with the
frontend and the pool hosts pointed at loopback ports, run in the foreground, stopped.

    with HaproxyServer(backends=[("127.0.0.1", pool_port)]) as proxy:
        ... miners connect to 127.0.0.1:proxy.port ...

`make components` (tests/components/install.sh) installs the package when missing.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.components.bcoin import ROOT
from tests.components.process import free_port, stop_process
from tests.components.require import component_missing
from tests.waiting import wait_for_sync

SHIPPED = ROOT / "configs" / "haproxy.cfg"
INSTALL_HINT = "run `make components` (or `bash tests/components/install.sh`)"


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if found is None:
        component_missing(f"haproxy is not installed: {INSTALL_HINT}")
    return found


def loopback_config(port: int, backends: list[tuple[str, int]], *, check: bool = True,
                    per_address: int | None = None) -> str:  # fmt: skip
    """The shipped config with its frontend on 127.0.0.1:`port` and its servers replaced
    by `backends` (so the test runs what operators are given); `per_address`: another
    cluster-wide cap on one address's connections."""
    text = SHIPPED.read_text()
    if per_address is not None:
        text, n = re.subn(r"sc0_conn_cur gt \d+", f"sc0_conn_cur gt {per_address}", text)
        assert n == 1, "the shipped config's per-address cap"
    text = text.replace("    bind :3333", f"    bind 127.0.0.1:{port}")
    text = re.sub(r"maxconn \d+", "maxconn 4000", text)  # within a test's fd limit
    text = re.sub(r"    server pool\d .*\n", "", text)
    if not check:
        text = text.replace(" check inter 2s", "")
    servers = "".join(f"    server pool{i} {host}:{p}\n" for i, (host, p) in
                      enumerate(backends, start=1))  # fmt: skip
    return text.rstrip("\n") + "\n" + servers


class HaproxyServer:
    def __init__(self, backends: list[tuple[str, int]], *, check: bool = True,
                 extra: str = "", per_address: int | None = None) -> None:  # fmt: skip
        """`extra`: more sections (the multi-host test's TCP forwarders)."""
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="surplus-haproxy-"))
        self.config = self.dir / "haproxy.cfg"
        self.config.write_text(loopback_config(self.port, backends, check=check,
                                               per_address=per_address) + extra)
        self.log_path = self.dir / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> HaproxyServer:
        binary = haproxy_binary()
        check = subprocess.run([binary, "-c", "-f", str(self.config)], capture_output=True,
                               text=True)  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
        self.proc = subprocess.Popen([binary, "-db", "-f", str(self.config)],
                                     stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT)
        wait_for_sync(self._listening, timeout, lambda: f"haproxy listening:\n{self.log()}")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"haproxy exited:\n{self.log()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc, 10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> HaproxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
