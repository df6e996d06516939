"""The application factory: the FastAPI app with the core's routers, the ingestor and (optionally) MLLP.

Services are not imported here (the core never imports ``services``): an entry module outside ``hub`` passes
their routers in ``routers``, and installed plugins are found through the ``hub.plugins`` entry point group.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import entry_points

from fastapi import APIRouter, FastAPI

from hub.config import Settings, get_settings
from hub.fhir.api import router as fhir_router
from hub.fhir.outcomes import install_error_handlers
from hub.hl7.http import router as hl7_router
from hub.hl7.ingest import Ingestor
from hub.hl7.mllp import MllpServer
from hub.identity import subscriber
from hub.identity.api import router as identity_router
from hub.security.token_endpoint import build_router as security_router

log = logging.getLogger(__name__)


def _plugin_routers() -> list[APIRouter]:
    routers: list[APIRouter] = []
    for ep in entry_points(group="hub.plugins"):
        plugin = ep.load()
        routers.extend(plugin() if callable(plugin) else plugin)
    return routers


def create_app(
    settings: Settings | None = None,
    *,
    routers: Sequence[APIRouter] = (),
    mllp: bool = False,
    on_stored: Callable[[list[int]], None] | None = None,
    plugins: bool = True,
) -> FastAPI:
    """Build the hub's ASGI application.

    Args:
        settings: the settings (default: the process settings).
        routers: extra routers (the services' API and pages).
        mllp: also run the MLLP listener in the app's event loop (``hub serve`` does).
        on_stored: called with new inbox ids after each commit; default: enqueue their conversion.
        plugins: load routers of installed ``hub.plugins`` entry points.

    Returns:
        The FastAPI application; its state holds ``ingestor`` (and ``mllp``) while it runs.
    """
    settings = settings or get_settings()
    # The master patient index follows Patient changes (outbox events dispatched in this process too).
    subscriber.install()
    if on_stored is None:
        from hub.tasks import enqueue_conversion

        def on_stored(ids: list[int]) -> None:
            enqueue_conversion(ids, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ingestor = Ingestor(settings, on_stored=on_stored)
        await ingestor.start()
        app.state.ingestor = ingestor
        server: MllpServer | None = None
        if mllp:
            server = MllpServer(ingestor, settings)
            await server.start()
            app.state.mllp = server
            log.info("MLLP listening on %s:%s", settings.mllp_host, server.port)
        try:
            yield
        finally:
            if server is not None:
                await server.stop()
            await ingestor.stop()

    app = FastAPI(
        title="City health interoperability hub",
        version="0.1.0",
        lifespan=lifespan,
        summary="HL7 v2 ingestion, HL7 v2 to FHIR R4 mapping and a FHIR R4 API",
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(hl7_router)
    # Order matters: the literal /fhir paths (SMART discovery, Patient/$match …) before /fhir/{type}/{id}.
    app.include_router(security_router(settings))
    app.include_router(identity_router)
    app.include_router(fhir_router)
    for router in (*routers, *(_plugin_routers() if plugins else [])):
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
