"""A session reaches its server only through `SessionHost`, and the server is one."""

from __future__ import annotations

import ast
import inspect

from pool.stratum import session as session_module
from pool.stratum.server import StratumServer
from pool.stratum.session import SessionHost


def _protocol_members() -> set[str]:
    tree = ast.parse(inspect.getsource(SessionHost))
    cls = tree.body[0]
    assert isinstance(cls, ast.ClassDef)
    names = {n.target.id for n in cls.body
             if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}  # fmt: skip
    names |= {n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    return names


def _server_names_used_by_sessions() -> set[str]:
    """Every `self.server.X` and `server.X` (server = self.server) in session.py."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(session_module))):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        if ast.unparse(owner) in ("server", "self.server"):
            used.add(node.attr)
    return used


def test_sessions_use_only_what_the_protocol_declares() -> None:
    used = _server_names_used_by_sessions()
    assert len(used) > 10  # the scan sees the session's calls
    assert used <= _protocol_members(), used - _protocol_members()


async def test_the_server_is_a_session_host(make_server) -> None:
    server = await make_server()
    assert isinstance(server, StratumServer)
    assert isinstance(server, SessionHost)
    for name in _protocol_members():
        assert hasattr(server, name), name
