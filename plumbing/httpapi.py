"""The pieces every daemon's HTTP API shares (aiohttp): JSON answers and errors, named
bearer tokens compared in constant time, and a request body that must be a JSON object.

    app = web.Application(middlewares=[json_errors])
    r.add_post("/x", bearer_guard(handler, tokens, BY, "no token is configured"))
    ...  request[BY] is the name of the token the request came with

fleetd's API and the coordinator's use them; the audit logs record who acted by the
token's name, never by a field of the request.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


def json_error(exc: type[web.HTTPException], message: str) -> web.HTTPException:
    """An aiohttp HTTP exception carrying {"error": message} as JSON (raise it)."""
    return exc(text=json.dumps({"error": message}), content_type="application/json")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own errors (404 of an unknown path, 405, ...) as {"error": ...} JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        return error_response(exc.status, exc.reason)


def token_name(tokens: Mapping[str, str], given: str) -> str | None:
    """The name of the token `given` is, comparing with every token in constant time."""
    found = None
    raw = given.encode()
    for name, token in tokens.items():
        if hmac.compare_digest(raw, token.encode()):
            found = name
    return found


def bearer_guard(
    handler: Handler, tokens: Mapping[str, str], by: web.RequestKey[str], disabled: str
) -> Handler:
    """`handler` behind `Authorization: Bearer <one of tokens>`: 403 (`disabled`) when no
    token is configured, 401 for a missing or wrong one; request[by] is the token's name."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if not tokens:
            return error_response(403, disabled)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        name = token_name(tokens, given.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            resp = error_response(401, "missing or wrong bearer token (Authorization: Bearer ...)")
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp
        request[by] = name
        return await handler(request)

    return guarded


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object ({} when there is none); 400 otherwise."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise json_error(web.HTTPBadRequest, f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise json_error(web.HTTPBadRequest, "body: expected a JSON object")
    return body
