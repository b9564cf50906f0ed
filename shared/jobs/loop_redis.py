"""A pipelined Redis connection for one asyncio event loop: the api's polls and creates.

redis.asyncio costs ≈ 90 µs of CPU a script call (connection-pool locks, stream reader and
writer, retry and observability wrappers); redis-py's sync client ≈ 40 µs but holds the loop while
Redis answers, and under CPU contention that wait, not the CPU, filled the loop
(benchmarks/results/create_profile.md). Here a call is one `transport.write` and a future: RESP
answers arrive in the order the commands were sent on a connection, so every caller on the loop
shares one connection, commands in flight together (pipelined), and hiredis parses the answers —
≈ 17 µs a call. Only what the hot paths use: commands, Lua scripts (EVALSHA, loaded again
after NOSCRIPT), AUTH/SELECT from the URL, TLS for rediss://, a per-call timeout. Failures raise
redis-py's exception classes (`redis.ConnectionError`, `redis.TimeoutError`,
`redis.ResponseError`), so callers handle them as they do for redis-py; a lost or timed-out
connection fails the calls in flight and the next call connects again.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import hiredis
import redis.exceptions as rx
from redis.connection import SSLConnection, parse_url

Arg = str | int


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: LoopRedis) -> None:
        self.owner = owner
        self.reader = hiredis.Reader(encoding="utf-8")
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if not self.pending:  # an answer nobody asked for: the stream is out of step
                self.fail(rx.ConnectionError("unexpected reply from Redis"))
                return
            future = self.pending.popleft()
            if not future.done():  # a caller that timed out leaves its future done
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(rx.ConnectionError(f"Redis connection lost: {exc or 'closed by the server'}"))

    def fail(self, exc: Exception) -> None:
        """Fail every call in flight and retire this connection (the next call opens one)."""
        if self.owner._protocol is self:
            self.owner._protocol = None  # noqa: SLF001 - the owner's own connection slot
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(exc)
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class LoopScript:
    """A Lua script called by its SHA-1 (as redis-py's `register_script`)."""

    def __init__(self, client: LoopRedis, text: str) -> None:
        self.client = client
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    async def __call__(self, keys: Sequence[Arg] = (), args: Iterable[Arg] = ()) -> Any:
        argv = (len(keys), *keys, *args)
        try:
            return await self.client.execute("EVALSHA", self.sha, *argv)
        except rx.NoScriptError:  # a restarted or flushed server: load it and call again
            self.sha = await self.client.execute("SCRIPT", "LOAD", self.text)
            return await self.client.execute("EVALSHA", self.sha, *argv)


class LoopRedis:
    """Commands on one pipelined connection; build it on (and use it from) one event loop."""

    def __init__(self, host: str, port: int = 6379, db: int = 0, *, username: str | None = None,
                 password: str | None = None, use_tls: bool = False,
                 socket_timeout: float = 2.0, socket_connect_timeout: float = 1.0) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.use_tls = use_tls
        self.socket_timeout = socket_timeout
        self.socket_connect_timeout = socket_connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    @classmethod
    def from_url(cls, url: str, *, socket_timeout: float = 2.0,
                 socket_connect_timeout: float = 1.0) -> LoopRedis:
        """redis:// or rediss:// (TLS, the system's trust store), with user, password and db.
        Other options in the URL's query (ssl_ca_certs, socket_timeout, ...) are not read."""
        parts = parse_url(url)
        return cls(parts.get("host", "127.0.0.1"), int(parts.get("port", 6379)),
                   int(parts.get("db", 0)), username=parts.get("username"),
                   password=parts.get("password"),
                   use_tls=parts.get("connection_class") is SSLConnection,
                   socket_timeout=socket_timeout, socket_connect_timeout=socket_connect_timeout)

    def register_script(self, text: str) -> LoopScript:
        return LoopScript(self, text)

    async def execute(self, *command: Arg) -> Any:
        """One command's answer; an error answer raises `ResponseError` (`NoScriptError`)."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            protocol = await self._connect()
        return await self._call(protocol, command)

    async def ping(self) -> bool:
        return bool(await self.execute("PING") == "PONG")

    async def aclose(self) -> None:
        if self._protocol is not None:
            self._protocol.fail(rx.ConnectionError("closed"))

    async def _call(self, protocol: _Protocol, command: tuple[Arg, ...]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        protocol.pending.append(future)  # appended and written with no await between: in order
        assert protocol.transport is not None
        protocol.transport.write(hiredis.pack_command(command))  # type: ignore[arg-type]
        timer = loop.call_later(self.socket_timeout, _time_out, protocol, future)
        try:
            reply = await future
        finally:
            timer.cancel()
        if isinstance(reply, hiredis.ReplyError):
            message = str(reply)
            raise (rx.NoScriptError if message.startswith("NOSCRIPT") else rx.ResponseError)(
                message
            )
        return reply

    async def _connect(self) -> _Protocol:
        """One connection attempt shared by every caller that arrives while it runs."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done():
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        tls = ssl.create_default_context() if self.use_tls else None
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: _Protocol(self), self.host, self.port, ssl=tls),
                self.socket_connect_timeout,
            )
        except TimeoutError as exc:  # asyncio's, the builtin (redis-py's is rx.TimeoutError)
            raise rx.TimeoutError(f"connecting to Redis at {self.host}:{self.port}") from exc
        except OSError as exc:
            where = f"{self.host}:{self.port}"
            raise rx.ConnectionError(f"connecting to Redis at {where}: {exc}") from exc
        try:  # AUTH and SELECT before anyone else's command: the connection is not shared yet
            if self.password is not None:
                credentials = (self.username, self.password) if self.username else (self.password,)
                await self._call(protocol, ("AUTH", *credentials))
            if self.db:
                await self._call(protocol, ("SELECT", self.db))
        except BaseException:
            protocol.fail(rx.ConnectionError("Redis refused the connection's AUTH or SELECT"))
            raise
        self._protocol = protocol
        return protocol


def _time_out(protocol: _Protocol, future: asyncio.Future[Any]) -> None:
    # The answer may still come, out of step with later calls: retire the connection.
    if not future.done():
        protocol.fail(rx.TimeoutError("Redis did not answer in time"))
