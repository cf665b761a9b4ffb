"""What every component harness does with its child process, its directory and its ports."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen | None, timeout: float) -> None:
    """Terminate, then kill if it does not exit within `timeout` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


class ComponentFailed(RuntimeError):
    """A component did not start or did not answer; the message ends with its log."""


@dataclass(frozen=True)
class Traits:
    """What tells one component's process from another's, to `ChildComponent`."""

    what: str  # its name in messages and in its directory's name
    failed: type[ComponentFailed]  # what its failures raise
    log_name: str  # its stdout and stderr, in its directory
    clash: str  # what its log says when a port it was given is taken
    start_timeout: float  # seconds it may take to answer, by default
    poll_s: float  # how often it is asked meanwhile


class ChildComponent:
    """A component's process in a temporary directory of its own: started (again, on a
    port clash), waited for until it answers, stopped with its directory removed; a context
    manager. A subclass (a dataclass with `workdir` and `proc` fields) says how to launch
    it and how to ask it whether it is ready: bcoin and Prometheus differ in nothing else."""

    traits: ClassVar[Traits]
    workdir: Path | None
    proc: subprocess.Popen[bytes] | None

    def _command(self, workdir: Path) -> list[str]:
        """Its command line, after picking its ports and writing any config in `workdir`."""
        raise NotImplementedError

    def _ready(self) -> bool:
        """Whether it answers yet (False on a refused connection)."""
        raise NotImplementedError

    def start(self, timeout: float | None = None, attempts: int = 3) -> Self:
        """Start and wait until it answers; started again on new ports after a clash."""
        last: Exception | None = None
        for _ in range(attempts):
            try:
                self._start_once(self.traits.start_timeout if timeout is None else timeout)
                return self
            except ComponentFailed as exc:
                last = exc
                self.stop()
                if self.traits.clash not in str(exc):
                    raise
        raise self.traits.failed(f"{self.traits.what} could not get free ports: {last}")

    def _start_once(self, timeout: float) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"surplus-{self.traits.what}-"))
        command = self._command(self.workdir)
        with (self.workdir / self.traits.log_name).open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        what, failed = self.traits.what, self.traits.failed
        while not self._ready():
            if self.proc.poll() is not None:
                raise failed(f"{what} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise failed(f"{what} did not answer within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(self.traits.poll_s)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate (then kill) the process and remove its directory."""
        stop_process(self.proc, timeout)
        self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if self.workdir is None:
            return ""
        with contextlib.suppress(OSError):
            text = (self.workdir / self.traits.log_name).read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""
