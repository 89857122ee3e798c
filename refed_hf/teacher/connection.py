"""The `openai` client of the running event loop, shared by every transport of a run.

An HTTP connection pool belongs to one event loop, and `datasets` runs each `Dataset.map` in a loop
of its own: the client is made again whenever the loop changes, and closed once its loop is idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import openai

ClientFactory = Callable[[], openai.AsyncOpenAI]


class Connection:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._client: openai.AsyncOpenAI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> openai.AsyncOpenAI:
        """The client of the running event loop (made on first use in that loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self._factory()
            self._loop = loop
        return self._client

    def close(self) -> None:
        """Close the client of the last event loop, once that loop has stopped running.

        Called after each `Dataset.map`: its loop is left idle, not closed, and a client collected
        later would try to close its sockets on a loop that is gone by then.
        """
        loop, client = self._loop, self._client
        self._client, self._loop = None, None
        if client is not None and loop is not None and not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(client.close())
