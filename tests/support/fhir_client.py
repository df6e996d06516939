"""The whole hub app (``create_app``) on a real uvicorn socket, and bearer tokens signed with the built-in key, for
the FHIR REST tests (tests/fhir/test_rest_*.py, tests/security/test_fhir_routes_*.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.fhir import store
from hub.security.jwks import load_or_create_signing_key
from hub.security.principal import Role
from hub.security.scopes import ScopeSet
from hub.security.tokens import issue_token

FHIR_JSON = "application/fhir+json"


def rest_settings(settings: Settings, **update: Any) -> Settings:
    """The test settings with rate limits out of the way (unless ``update`` sets them)."""
    return settings.model_copy(update={"rate_limit_per_s": 1000.0, "rate_limit_burst": 1000, **update})


@contextmanager
def serve_hub(settings: Settings) -> Iterator[httpx.Client]:
    """``create_app(settings)`` served by uvicorn on a free port in a thread (no lifespan: no ingestor, no MLLP);
    yields an httpx client for it."""
    from hub.app import create_app

    app = create_app(settings, on_stored=lambda _ids: None, plugins=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


class Tokens:
    """Mints access tokens with the built-in signing key of ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key = load_or_create_signing_key(settings)

    def __call__(
        self,
        scopes: str,
        *,
        role: Role = "system",
        subject: str = "his-a",
        organization: str | None = "org-a",
        patient: str | None = None,
        purposes: tuple[str, ...] = (),
    ) -> dict[str, str]:
        """The Authorization header of a token with these claims."""
        token = issue_token(
            self.settings,
            subject=subject,
            client_id=subject if role == "system" else "app",
            role=role,
            scopes=ScopeSet.parse(scopes),
            organization=organization,
            patient=patient,
            fhir_user=f"Patient/{patient}" if role == "patient" and patient else None,
            purposes=purposes,
            key=self.key,
        ).access_token
        return {"Authorization": f"Bearer {token}"}

    def operator(self) -> dict[str, str]:
        return self("user/*.cruds", role="operator", subject="operator", organization=None)

    def system(self, org: str, scopes: str = "system/*.cruds", purposes: tuple[str, ...] = ()) -> dict[str, str]:
        return self(scopes, subject=f"his-{org}", organization=org, purposes=purposes)

    def patient(self, patient_id: str, scopes: str = "patient/*.rs patient/Consent.cruds") -> dict[str, str]:
        return self(scopes, role="patient", subject=f"user-{patient_id}", organization=None, patient=patient_id)

    def practitioner(self, org: str, subject: str = "dr-wang", scopes: str = "user/*.cruds") -> dict[str, str]:
        return self(scopes, role="practitioner", subject=subject, organization=org, purposes=("TREAT",))


def audit_events(session: Session, patient_id: str | None = None) -> list[dict[str, Any]]:
    """The stored AuditEvents (of one patient's records), oldest first, read through the store (not the API)."""
    session.rollback()
    params = [("patient", f"Patient/{patient_id}")] if patient_id else []
    events = [dict(r) for r in store.search(session, "AuditEvent", params, count=1000).resources]
    return sorted(events, key=lambda e: (e["recorded"], e["meta"]["lastUpdated"]))


def subtype(event: dict[str, Any]) -> str:
    return str(event["subtype"][0]["code"])


def entity_refs(event: dict[str, Any]) -> set[str]:
    return {e["what"]["reference"] for e in event.get("entity", []) if "what" in e}


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    """The ids of a searchset's entries of one search mode, sorted."""
    return sorted(
        e["resource"]["id"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode", "match") == mode
    )
