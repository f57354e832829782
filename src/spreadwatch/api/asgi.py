"""A base for the API's ASGI middlewares, which only look at or change what is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Send = Callable[[dict], Awaitable[None]]


class SendFilter:
    """ASGI middleware that passes HTTP requests on with ``send`` wrapped by :meth:`wrap`
    (other traffic, such as lifespan, passes untouched)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self.wrap(scope, send))

    def wrap(self, scope: dict, send: Send) -> Send:
        raise NotImplementedError
