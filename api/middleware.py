"""Pure ASGI middleware (no per-request task or body copy, unlike ``@app.middleware('http')``).

:class:`RequestGuard` gives every HTTP request an id (``X-Request-ID``: the
client's when it is a safe token, else a fresh one; the audit log records it)
and refuses bodies over the limit with 413 — by ``Content-Length`` before the
app runs; a chunked body is read here up to the limit and replayed to the app.
"""

from __future__ import annotations

import json
import re
import uuid

__all__ = ["RequestGuard"]

_SAFE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


class RequestGuard:
    """Request ids and a body-size limit for HTTP requests."""

    def __init__(self, app, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._too_large = json.dumps({"detail": [{"field": "body", "reason":
                                      f"payload over {max_body_bytes // 2**20} MB"}]}).encode()
        self._nul = json.dumps({"detail": [{"field": "query", "reason": "NUL characters are not allowed"}]}).encode()

    async def _reject(self, send, request_id: bytes) -> None:
        await self._send_json(send, request_id, 413, self._too_large)

    @staticmethod
    async def _send_json(send, request_id: bytes, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"x-request-id", request_id),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value
            elif name == b"content-length":
                length = value
        request_id = given if given is not None and _SAFE_ID.match(given) else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._reject(send, request_id)
            return
        if b"%00" in scope.get("query_string", b""):  # PostgreSQL text cannot hold NUL: refuse it up front
            await self._send_json(send, request_id, 400, self._nul)
            return
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            # chunked upload: read it here (at most the limit), then replay it to the app
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = message.get("more_body", False)
                if size > self.max_body_bytes:
                    await self._reject(send, request_id)
                    return
            body = b"".join(chunks)
            replayed = False

            async def replay():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            receive = replay

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)
