"""A lean HTTP/1.1 keep-alive load client for the benchmarks (asyncio streams, no HTTP library).

The client shares the machine with the servers under test, so it does as little
as possible per request: requests are pre-encoded bytes, responses are read by
``Content-Length`` (or chunked), headers are parsed only for the status, length
and the few names asked for. The same client measures every server.

    reqs = [encode_get("/tiles/enterprises/14/13700/6700.mvt", host, auth_header)]
    result = asyncio.run(run(host, port, reqs, concurrency=8))
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

__all__ = ["encode_get", "run", "LoadResult", "Response"]


def encode_get(path: str, host: str, headers: dict[str, str] | None = None) -> bytes:
    """A GET request as bytes (keep-alive)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class LoadResult:
    """Per request latency (seconds, in request order), status, body size; wall time of the whole run."""

    latencies: list[float]
    statuses: list[int]
    sizes: list[int]
    wall_s: float
    concurrency: int
    keep: list[Response | None] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.statuses if not 200 <= s < 400)

    @property
    def per_s(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s > 0 else 0.0


class _Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.r, self.w = await asyncio.open_connection(self.host, self.port, limit=2**20)

    async def close(self) -> None:
        if self.w is not None:
            self.w.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.w.wait_closed()

    async def request(self, raw: bytes, want_headers: bool = False) -> Response:
        assert self.r is not None and self.w is not None
        self.w.write(raw)
        head = await self.r.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        chunked = False
        close = False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif lname == b"connection" and b"close" in value.lower():
                close = True
            if want_headers:
                headers[lname.decode("latin-1")] = value.strip().decode("latin-1")
        if chunked:
            parts = []
            while True:
                size_line = await self.r.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0], 16)
                if size == 0:
                    await self.r.readuntil(b"\r\n")
                    break
                parts.append(await self.r.readexactly(size))
                await self.r.readexactly(2)
            body = b"".join(parts)
        elif length is not None:
            body = await self.r.readexactly(length) if length else b""
        else:  # no length: read to close
            body = await self.r.read()
            close = True
        if close:
            await self.close()
            await self.open()
        return Response(status, headers, body)


async def run(host: str, port: int, requests: list[bytes], *, concurrency: int = 1,
              keep_bodies: bool = False, want_headers: bool = False) -> LoadResult:
    """Send ``requests`` over ``concurrency`` keep-alive connections, as fast as answers come back.

    Each connection takes the next request of the list when its previous one is
    answered (a closed loop, like browsers fetching a map's tiles).
    """
    conns = [_Conn(host, port) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    n = len(requests)
    lat = [0.0] * n
    statuses = [0] * n
    sizes = [0] * n
    keep: list[Response | None] = [None] * n if keep_bodies else []
    nxt = 0
    clock = time.perf_counter

    async def worker(c: _Conn) -> None:
        nonlocal nxt
        while True:
            i = nxt
            if i >= n:
                return
            nxt = i + 1
            t0 = clock()
            resp = await c.request(requests[i], want_headers)
            lat[i] = clock() - t0
            statuses[i] = resp.status
            sizes[i] = len(resp.body)
            if keep_bodies:
                keep[i] = resp

    t0 = clock()
    try:
        await asyncio.gather(*(worker(c) for c in conns))
        wall = clock() - t0
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return LoadResult(lat, statuses, sizes, wall, concurrency, keep)
