"""Answers of the read endpoints, built off the event loop and kept serialised.

A read endpoint's answer depends on its URL (path and query) and on the versions of the tables
it reads, nothing else: the caller's permission is checked (and audited) before, by the
route's dependencies. So the bytes of an answer are kept under that key and sent again as they
are, with no filtering, validation or serialisation, until a table's file changes. A miss runs
in the thread pool, so a slow table never stalls the other requests. Answers of
:data:`GZIP_FROM` bytes on are kept compressed too, and sent so to clients that accept gzip
(the server's gzip middleware leaves an encoded answer alone).
"""

from __future__ import annotations

import functools
import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import Request, Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from spreadwatch.api.workspace import Workspace

#: Bytes of answers kept, at most (the least recently used go first).
DEFAULT_BUDGET = 256 * 1024 * 1024
#: Answers from this size on are kept gzip-compressed as well (the server's gzip threshold).
GZIP_FROM = 2048


@dataclass(frozen=True)
class _Answer:
    body: bytes
    media_type: str
    headers: tuple[tuple[str, str], ...]
    compressed: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.body) + len(self.compressed or b"")

    def response(self, request: Request) -> Response:
        headers = dict(self.headers)
        if self.compressed is not None:
            headers["Vary"] = "Accept-Encoding"
            if accepts_gzip(request.headers.get("accept-encoding", "")):
                headers["Content-Encoding"] = "gzip"
                return Response(self.compressed, media_type=self.media_type, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)

    def packed(self) -> _Answer:
        """With its compressed bytes, when it is large enough to be worth them."""
        if len(self.body) < GZIP_FROM:
            return self
        compressed = gzip.compress(self.body, compresslevel=6, mtime=0)
        return _Answer(self.body, self.media_type, self.headers, compressed)


def accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip (``gzip;q=0`` refuses it)."""
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        quality = (
            params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
        )
        try:
            return float(quality) > 0
        except ValueError:
            return False
    return False


@functools.cache
def _adapter(model: object) -> TypeAdapter:
    return TypeAdapter(model)


def _serialised(request: Request, value: object) -> _Answer:
    """``value`` as the route's response model serialises it (as FastAPI would), or a
    response's own bytes."""
    if isinstance(value, Response):
        headers = tuple(
            (k, v)
            for k, v in value.headers.items()
            if k.lower() not in ("content-length", "content-type")
        )
        return _Answer(bytes(value.body), value.media_type or "application/json", headers)
    model = getattr(request.scope.get("route"), "response_model", None)
    if model is None:
        raise TypeError(f"{request.url.path}: a cached answer needs the route's response model")
    adapter = _adapter(model)
    body = adapter.dump_json(adapter.validate_python(value), by_alias=True)
    return _Answer(body, "application/json", ())


class Answers:
    """The kept answers of one server, at most ``budget`` bytes of them."""

    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._kept: OrderedDict[tuple, _Answer] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    async def answer(
        self,
        request: Request,
        workspace: Workspace,
        tables: Sequence[str],
        build: Callable[[], object],
    ) -> Response:
        """The answer to ``request``: kept, or ``build()`` (a body for the route's response
        model, or a response) run in the thread pool and kept. ``tables`` are those the
        answer reads; an error raised by ``build`` is answered as usual and not kept."""
        key = (
            str(request.base_url),  # pages link to their next page by absolute URL
            request.url.path,
            request.url.query,
            tuple(workspace.stamp(name) for name in tables),
        )
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                self.hits += 1
        if found is not None:
            return found.response(request)
        answer = await run_in_threadpool(lambda: _serialised(request, build()).packed())
        with self._lock:
            self.misses += 1
            if key not in self._kept and answer.size <= self.budget:
                self._kept[key] = answer
                self._bytes += answer.size
                while self._bytes > self.budget:
                    _, dropped = self._kept.popitem(last=False)
                    self._bytes -= dropped.size
        return answer.response(request)
