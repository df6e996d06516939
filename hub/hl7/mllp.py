"""MLLP, the HL7 v2 transport over TCP (HL7 v2.5.1 Appendix C, release 1): framing and the listener.

A frame is ``0x0B`` + message + ``0x1C 0x0D``. The decoder accepts the stream in any chunking, skips bytes
outside frames, takes a ``0x0B`` inside a frame as the sender restarting it (the partial one is dropped:
MLLP forbids that byte in content), and ends a frame at ``0x1C`` with or without the ``0x0D``.

The listener answers every frame with the ACK from :class:`~hub.hl7.ingest.Ingestor`, in the order the
frames arrived, while later frames on the same connection are already being stored (pipelining, so one
connection fills a group commit too). At most ``PIPELINE_DEPTH`` messages per connection are in flight;
beyond that the listener stops reading, and TCP flow control holds the sender back. A frame larger than
``max_message_bytes`` is answered AR, then the connection is closed (the rest of the frame is never read).
A connection with no bytes for ``mllp_idle_timeout`` seconds is closed. TLS is used when ``mllp_tls_cert``
(and ``mllp_tls_key``, unless the key is in the certificate file) are set.

A frame may hold a batch (FHS/BHS … BTS/FTS, :mod:`hub.hl7.batch`): it is answered with one frame holding
the batch of ACKs, after the last of its messages is committed; such a frame may be as large as
``max_batch_bytes``.

A message whose MSH-15 is NE (enhanced mode, no accept acknowledgment) gets no reply frame, as the
standard says (so does a batch none of whose messages wants an ACK); every other frame gets exactly one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass

from hub.config import Settings
from hub.hl7.batch import batch_limit, is_batch
from hub.hl7.ingest import AckResult, Ingestor

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
READ_SIZE = 65_536
PIPELINE_DEPTH = 128
_HEAD_BYTES = 65_536  # of an over-size frame, kept to read its MSH for the AR


def frame(message: bytes) -> bytes:
    """``message`` wrapped in an MLLP frame."""
    return START_BLOCK + message + END_BLOCK + CARRIAGE_RETURN


@dataclass(frozen=True, slots=True)
class Oversize:
    """A frame that grew past the limit: its first bytes and how many were seen."""

    head: bytes
    size: int


_OUTSIDE, _INSIDE, _AFTER_END, _DISCARD = range(4)


class MllpDecoder:
    """Splits a byte stream into MLLP frames.

    Args:
        max_size: the largest message accepted; a longer frame is reported once as :class:`Oversize` and
            the rest of it is skipped, so the decoder never holds much more than ``max_size`` bytes.
        max_batch_size: the same for a frame that holds a batch (starts with FHS or BHS); at least
            ``max_size``.
    """

    def __init__(self, max_size: int, max_batch_size: int = 0) -> None:
        self.max_size = max_size
        self.max_batch_size = max(max_size, max_batch_size)
        self.skipped = 0  # bytes outside frames (and of abandoned partial frames)
        self._buf = bytearray()
        self._state = _OUTSIDE
        self._start = 0  # where the current frame's content starts in _buf
        self._scan = 0  # where to continue looking for its end

    @property
    def in_frame(self) -> bool:
        """True while a frame has started and not ended (a partial message is buffered)."""
        return self._state == _INSIDE

    def feed(self, data: bytes) -> list[bytes | Oversize]:
        """Add received bytes; return the frames (message bytes) completed by them, in order."""
        out: list[bytes | Oversize] = []
        buf = self._buf
        buf += data
        n = len(buf)
        pos = 0
        while pos < n or (self._state == _INSIDE and self._scan < n):
            state = self._state
            if state == _AFTER_END:
                if buf[pos] == 0x0D:
                    pos += 1
                self._state = _OUTSIDE
            elif state == _OUTSIDE:
                start = buf.find(START_BLOCK, pos)
                if start < 0:
                    self.skipped += n - pos
                    pos = n
                    break
                self.skipped += start - pos
                self._state = _INSIDE
                self._start = self._scan = pos = start + 1
            elif state == _DISCARD:
                end = buf.find(END_BLOCK, pos)
                if end < 0:
                    pos = n
                    break
                pos = end + 1
                self._state = _AFTER_END
            else:
                end = buf.find(END_BLOCK, self._scan)
                stop = end if end >= 0 else n
                restart = buf.find(START_BLOCK, self._scan, stop)
                if restart >= 0:
                    self.skipped += restart + 1 - self._start
                    self._start = self._scan = pos = restart + 1
                    continue
                size = stop - self._start
                if size > self.max_size and (
                    size > self.max_batch_size or not is_batch(buf[self._start : self._start + 128])
                ):
                    out.append(Oversize(bytes(buf[self._start : self._start + _HEAD_BYTES]), size))
                    if end >= 0:
                        pos = end + 1
                        self._state = _AFTER_END
                    else:
                        pos = n
                        self._state = _DISCARD
                    continue
                if end < 0:
                    self._scan = n
                    pos = self._start
                    break
                out.append(bytes(buf[self._start : end]))
                pos = end + 1
                self._state = _AFTER_END
        # Drop what is consumed; keep a partial frame from its first content byte.
        keep_from = self._start if self._state == _INSIDE else pos
        if keep_from:
            del buf[:keep_from]
            if self._state == _INSIDE:
                self._scan -= keep_from
                self._start = 0
        return out


class MllpServer:
    """The asyncio MLLP listener in front of an :class:`~hub.hl7.ingest.Ingestor`.

    Args:
        ingestor: stores each message and makes its ACK (started and stopped by the caller).
        settings: ``mllp_host``/``mllp_port`` (0 binds a free port, see :attr:`port`), the size limit,
            the idle timeout and the TLS certificate and key.
    """

    def __init__(self, ingestor: Ingestor, settings: Settings) -> None:
        self._ingestor = ingestor
        self._settings = settings
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the MLLP server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        return len(self._connections)

    def _ssl_context(self) -> ssl.SSLContext | None:
        cert, key = self._settings.mllp_tls_cert, self._settings.mllp_tls_key
        if cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
        return context

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("the MLLP server is already started")
        self._server = await asyncio.start_server(
            self._handle,
            self._settings.mllp_host,
            self._settings.mllp_port,
            ssl=self._ssl_context(),
            backlog=1024,
        )

    async def stop(self) -> None:
        """Stop accepting; let in-flight messages on open connections be stored and answered, then close."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=15.0)
        await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else None
        replies: asyncio.Queue[asyncio.Future[AckResult] | bytes | None] = asyncio.Queue(maxsize=PIPELINE_DEPTH)
        responder = asyncio.create_task(self._respond(replies, writer))
        decoder = MllpDecoder(self._settings.max_message_bytes, batch_limit(self._settings))
        idle = self._settings.mllp_idle_timeout
        try:
            await self._read(reader, decoder, replies, peer, idle)
        except asyncio.CancelledError:
            task.uncancel()  # stop(): answer what is in flight, then close
        except Exception:
            log.exception("MLLP connection from %s failed", peer)
        finally:
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await replies.put(None)
                    await asyncio.wait_for(responder, timeout=30.0)
            except TimeoutError:
                log.warning("MLLP connection from %s: replies not sent in time", peer)
            finally:
                responder.cancel()
                writer.close()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(writer.wait_closed(), timeout=5.0)
                self._connections.discard(task)
                if decoder.skipped:
                    log.info("MLLP connection from %s: %d bytes outside frames skipped", peer, decoder.skipped)

    async def _read(
        self,
        reader: asyncio.StreamReader,
        decoder: MllpDecoder,
        replies: asyncio.Queue[asyncio.Future[AckResult] | bytes | None],
        peer: str | None,
        idle: float,
    ) -> None:
        ingestor = self._ingestor
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(idle) as deadline:
                while True:
                    try:
                        data = await reader.read(READ_SIZE)
                    except (OSError, ssl.SSLError):
                        return
                    if not data:
                        return
                    deadline.reschedule(None)  # waiting for our own replies is not idleness
                    for item in decoder.feed(data):
                        if isinstance(item, Oversize):
                            ack = ingestor.oversize_ack(item.head, item.size, transport="mllp", peer=peer)
                            await replies.put(ack.data)
                            return  # answered AR; the rest of the frame is not read
                        await replies.put(ingestor.submit(item, transport="mllp", peer=peer))
                    deadline.reschedule(loop.time() + idle)
        except TimeoutError:
            log.info("MLLP connection from %s idle for %.0f s: closed", peer, idle)

    @staticmethod
    async def _respond(
        replies: asyncio.Queue[asyncio.Future[AckResult] | bytes | None], writer: asyncio.StreamWriter
    ) -> None:
        """Write the ACKs in the order the messages came; after a write failure, only wait for the rest."""
        broken = False
        while True:
            item = await replies.get()
            if item is None:
                return
            try:
                data = item if isinstance(item, bytes) else (await item).data
            except Exception:
                # No ACK can be given for this message: close, so the sender resends instead of waiting.
                log.exception("MLLP: no ACK for a message")
                broken = True
                writer.close()
                continue
            if not data or broken:
                continue
            try:
                writer.write(frame(data))
                await writer.drain()
            except (OSError, ssl.SSLError):
                broken = True
                writer.close()
