"""Fixtures for the ingestion tests: a real Ingestor + MLLP listener on its own event loop thread, and an
ACK checker that validates against hl7apy's structure definitions (strict)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message as Hl7apyMessage
from hl7apy.parser import get_message_info, parse_message, parse_segments
from sqlalchemy import select

from hub.config import Settings
from hub.db import get_sessionmaker
from hub.db.tables import InboxMessage
from hub.hl7 import er7
from hub.hl7.client import MllpClient
from hub.hl7.http import MEDIA_TYPE as MEDIA
from hub.hl7.http import router
from hub.hl7.ingest import Ingestor
from hub.hl7.mllp import MllpServer

T = TypeVar("T")

# A PostgreSQL URL where nothing listens: "the database is unreachable", whichever back-end the suite uses.
UNREACHABLE_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:1/unreachable"
HL7APY_VERSIONS = ["2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8", "2.8.1", "2.8.2"]


class LoopThread:
    """An asyncio event loop running in a daemon thread; tests drive it with :meth:`run`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-hub-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class RunningHub:
    settings: Settings
    ingestor: Ingestor
    server: MllpServer
    thread: LoopThread
    stored: list[int] = field(default_factory=list)  # what on_stored received

    @property
    def port(self) -> int:
        return self.server.port

    def client(self, **kwargs: Any) -> MllpClient:
        kwargs.setdefault("timeout", 20.0)
        return MllpClient("127.0.0.1", self.port, **kwargs).connect()

    def send(self, message: bytes | str) -> bytes:
        with self.client() as c:
            return c.send(message)

    def rows(self) -> list[InboxMessage]:
        with get_sessionmaker(self.settings)() as session:
            return list(session.execute(select(InboxMessage).order_by(InboxMessage.id)).scalars())

    def stop(self) -> None:
        try:
            self.thread.run(self.server.stop())
            self.thread.run(self.ingestor.stop())
        finally:
            self.thread.close()


@pytest.fixture
def start_hub(settings: Settings) -> Iterator[Callable[..., RunningHub]]:
    """Start an Ingestor and an MLLP listener (on settings, or on modified settings) in a loop thread."""
    running: list[RunningHub] = []

    def start(custom: Settings | None = None, *, on_stored: Callable[[list[int]], None] | None = None) -> RunningHub:
        s = custom or settings
        thread = LoopThread()
        stored: list[int] = []
        ingestor = Ingestor(s, on_stored=on_stored or stored.extend)
        server = MllpServer(ingestor, s)
        hub = RunningHub(s, ingestor, server, thread, stored)
        running.append(hub)
        thread.run(ingestor.start())
        thread.run(server.start())
        return hub

    yield start
    for hub in running:
        hub.stop()


@pytest.fixture
def hub(start_hub: Callable[..., RunningHub]) -> RunningHub:
    return start_hub()


class Acks:
    """ACK readers and the hl7apy check, handed to tests by the ``acks`` fixture."""

    unreachable_database_url = UNREACHABLE_DATABASE_URL
    hl7apy_versions = HL7APY_VERSIONS

    @staticmethod
    def parse(data: bytes, encoding: str = "utf-8") -> er7.Message:
        return parse_ack(data, encoding)

    @staticmethod
    def msa(data: bytes, encoding: str = "utf-8") -> tuple[str, str]:
        return msa(data, encoding)

    @staticmethod
    def err(data: bytes) -> tuple[str, str]:
        return err3(data)

    @staticmethod
    def validate(ack_text: str) -> None:
        validate_with_hl7apy(ack_text)

    @staticmethod
    def tls_context(cert: Path) -> ssl.SSLContext:
        return client_tls_context(cert)


@pytest.fixture
def acks() -> type[Acks]:
    return Acks


def parse_ack(data: bytes, encoding: str = "utf-8") -> er7.Message:
    text = data.decode(encoding)
    message = er7.parse(text)
    assert message.msh.name == "MSH"
    assert [s.name for s in message.segments][:2] == ["MSH", "MSA"]
    return message


def msa(data: bytes, encoding: str = "utf-8") -> tuple[str, str]:
    """(MSA-1, MSA-2) of an ACK."""
    message = parse_ack(data, encoding)
    seg = message.first("MSA")
    assert seg is not None
    return seg[1], seg[2]


def err3(data: bytes) -> tuple[str, str]:
    """(ERR-3.1 code, ERR-2 location) of a v2.5+ ACK."""
    message = parse_ack(data)
    seg = message.first("ERR")
    assert seg is not None, data
    return message.get(seg, 3, 1), seg[2]


def validate_with_hl7apy(ack_text: str) -> None:
    """Strictly validate an ACK against hl7apy's definition of the ACK structure for its version.

    hl7apy finds the structure from MSH-9.3, which versions before 2.3.1 do not have; for those the ACK
    structure is named explicitly and the segments are parsed against it.
    """
    encoding_chars, structure, version = get_message_info(ack_text)
    if structure == "ACK":
        message = parse_message(ack_text, validation_level=VALIDATION_LEVEL.STRICT)
    else:
        message = Hl7apyMessage("ACK", version=version, validation_level=VALIDATION_LEVEL.STRICT)
        message.children = parse_segments(
            ack_text, message.version, encoding_chars, VALIDATION_LEVEL.STRICT, message.reference
        )
    assert message.name == "ACK"
    assert message.validate() is True


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 / localhost, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def client_tls_context(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    return context


class HttpHub:
    """The router in a small app whose lifespan runs an Ingestor (and an MLLP listener), served by uvicorn."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.mllp_port = 0

        @asynccontextmanager
        async def lifespan(app: FastAPI):
            ingestor = Ingestor(settings)
            await ingestor.start()
            mllp = MllpServer(ingestor, settings)
            await mllp.start()
            self.mllp_port = mllp.port
            app.state.ingestor = ingestor
            try:
                yield
            finally:
                await mllp.stop()
                await ingestor.stop()

        app = FastAPI(lifespan=lifespan)
        app.include_router(router)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20)

    def post(self, body: bytes | str, **kwargs) -> httpx.Response:
        content = body.encode() if isinstance(body, str) else body
        return self.client.post("/hl7/v2", content=content, headers={"content-type": MEDIA}, **kwargs)

    def rows(self) -> list[InboxMessage]:
        with get_sessionmaker(self.settings)() as session:
            return list(session.execute(select(InboxMessage).order_by(InboxMessage.id)).scalars())

    def close(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def http_hub(settings) -> Iterator[HttpHub]:
    hub = HttpHub(settings)
    yield hub
    hub.close()


@pytest.fixture
def make_http_hub() -> Iterator:
    hubs: list[HttpHub] = []

    def make(settings) -> HttpHub:
        hubs.append(HttpHub(settings))
        return hubs[-1]

    yield make
    for hub in hubs:
        hub.close()
