"""MLLP clients: a blocking one (tests, the CLI, outbound deliveries from worker threads) and an asyncio one
(the benchmark, outbound deliveries from the event loop). Both send one message and wait for its ACK, or
pipeline several and read the ACKs in order; both speak TLS when given an SSL context.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from types import TracebackType

from hub.hl7.mllp import MllpDecoder, Oversize, frame

# ACKs are small; this only bounds what a misbehaving server can make the client buffer.
MAX_REPLY_BYTES = 16 * 1024 * 1024


def _as_bytes(message: bytes | str, encoding: str) -> bytes:
    return message if isinstance(message, bytes) else message.encode(encoding)


def _frames_only(items: list[bytes | Oversize]) -> list[bytes]:
    frames: list[bytes] = []
    for item in items:
        if isinstance(item, Oversize):
            raise ConnectionError(f"reply frame larger than {MAX_REPLY_BYTES} bytes")
        frames.append(item)
    return frames


class MllpClient:
    """A blocking MLLP connection.

    Args:
        host: the listener's host.
        port: its port.
        timeout: seconds to wait for connecting and for each reply.
        ssl_context: TLS for the connection (None: plain TCP).
        server_hostname: the name checked against the server's certificate (default: ``host``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname or host
        self._sock: socket.socket | None = None
        self._decoder = MllpDecoder(MAX_REPLY_BYTES)
        self._ready: list[bytes] = []

    def connect(self) -> MllpClient:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl_context is not None:
            sock = self._ssl_context.wrap_socket(sock, server_hostname=self._server_hostname)
        self._sock = sock
        return self

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> MllpClient:
        return self.connect() if self._sock is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def socket(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionError("not connected")
        return self._sock

    def write(self, data: bytes) -> None:
        """Send raw bytes as they are (no framing): for tests of the listener."""
        self.socket.sendall(data)

    def shutdown_write(self) -> None:
        """Half-close: tell the server no more bytes will come."""
        self.socket.shutdown(socket.SHUT_WR)

    def send(self, message: bytes | str, *, encoding: str = "utf-8") -> bytes:
        """Send one message and return its ACK (bytes, without framing)."""
        self.write(frame(_as_bytes(message, encoding)))
        return self.read_reply()

    def send_many(self, messages: Sequence[bytes | str], *, encoding: str = "utf-8") -> list[bytes]:
        """Send all messages without waiting (pipelining), then read one ACK for each, in order."""
        self.write(b"".join(frame(_as_bytes(m, encoding)) for m in messages))
        return [self.read_reply() for _ in messages]

    def read_reply(self) -> bytes:
        """The next reply frame.

        Raises:
            ConnectionError: the server closed the connection first.
            TimeoutError: no reply within the timeout.
        """
        while not self._ready:
            data = self.socket.recv(65_536)
            if not data:
                raise ConnectionError("the server closed the connection before replying")
            self._ready.extend(_frames_only(self._decoder.feed(data)))
        return self._ready.pop(0)

    def read_until_closed(self) -> list[bytes]:
        """Every reply frame until the server closes the connection."""
        replies, self._ready = self._ready, []
        while True:
            try:
                data = self.socket.recv(65_536)
            except ConnectionResetError:
                break
            if not data:
                break
            replies.extend(_frames_only(self._decoder.feed(data)))
        return replies


class AsyncMllpClient:
    """An asyncio MLLP connection; same arguments as :class:`MllpClient`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname or host
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = MllpDecoder(MAX_REPLY_BYTES)
        self._ready: list[bytes] = []

    async def connect(self) -> AsyncMllpClient:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                self.host,
                self.port,
                ssl=self._ssl_context,
                server_hostname=self._server_hostname if self._ssl_context is not None else None,
            ),
            timeout=self.timeout,
        )
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader, self._writer = reader, writer
        return self

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass

    async def __aenter__(self) -> AsyncMllpClient:
        return await self.connect() if self._writer is None else self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def write(self, data: bytes) -> None:
        """Send raw bytes as they are (no framing)."""
        if self._writer is None:
            raise ConnectionError("not connected")
        self._writer.write(data)
        await self._writer.drain()

    async def send(self, message: bytes | str, *, encoding: str = "utf-8") -> bytes:
        """Send one message and return its ACK."""
        await self.write(frame(_as_bytes(message, encoding)))
        return await self.read_reply()

    async def send_many(self, messages: Sequence[bytes | str], *, encoding: str = "utf-8") -> list[bytes]:
        """Pipeline the messages, then read one ACK for each, in order."""
        await self.write(b"".join(frame(_as_bytes(m, encoding)) for m in messages))
        return [await self.read_reply() for _ in messages]

    async def read_reply(self) -> bytes:
        """The next reply frame (ConnectionError if the server closes first, TimeoutError after the timeout)."""
        if self._reader is None:
            raise ConnectionError("not connected")
        while not self._ready:
            data = await asyncio.wait_for(self._reader.read(65_536), timeout=self.timeout)
            if not data:
                raise ConnectionError("the server closed the connection before replying")
            self._ready.extend(_frames_only(self._decoder.feed(data)))
        return self._ready.pop(0)


def send_message(
    host: str,
    port: int,
    message: bytes | str,
    *,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
) -> bytes:
    """Connect, send one message, return its ACK, close."""
    with MllpClient(host, port, timeout=timeout, ssl_context=ssl_context) as client:
        return client.send(message)


async def asend_message(
    host: str,
    port: int,
    message: bytes | str,
    *,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
) -> bytes:
    """The asyncio :func:`send_message`."""
    async with AsyncMllpClient(host, port, timeout=timeout, ssl_context=ssl_context) as client:
        return await client.send(message)
