"""The CapabilityStatement, built from what the application actually routes and indexes.

Interactions come from the app's routes under ``/fhir``: a route's ``name`` is its FHIR interaction code
(``read``, ``vread``, ``search-type``, ``create``…); a route whose path has a ``{resource_type}`` parameter
serves every resource type, one with a literal type (``/fhir/Patient/…``) that type alone. Operations are
routes with a ``$name`` segment. Search parameters come from :mod:`hub.fhir.search_params`. Nothing here
is hand-listed: add a route or a parameter and the statement follows.

Routes say more in their ``openapi_extra``: ``x-fhir-interactions`` (the interaction codes of a route that
serves several, such as ``POST /fhir``: transaction and batch), ``x-fhir-not-for`` (resource types a generic
route refuses, such as writes of AuditEvent) and ``x-fhir-capability`` (CapabilityStatement.rest.resource flags
the route implements: ``conditionalCreate``, ``conditionalUpdate``, ``conditionalRead`` …). The security section
names SMART on FHIR and the token endpoint of the app's settings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from hub.fhir.search_params import REGISTRY, include_values, revinclude_values

TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
SYSTEM_INTERACTIONS = ("transaction", "batch", "search-system", "history-system")
# R4 OperationDefinitions the hub's operations implement, by "<Type>-<name>".
STANDARD_OPERATIONS = {"Patient-match": "http://hl7.org/fhir/OperationDefinition/Patient-match"}

_STARTED = datetime.now(UTC).replace(microsecond=0)


def _software_version() -> str:
    try:
        return version("city-health-hub")
    except PackageNotFoundError:  # pragma: no cover - the hub runs installed
        return "0"


@dataclass(frozen=True, slots=True)
class _Route:
    path: str
    name: str
    openapi_extra: dict[str, Any]

    @property
    def interactions(self) -> list[str]:
        codes = self.openapi_extra.get("x-fhir-interactions")
        return [str(c) for c in codes] if isinstance(codes, list) else [self.name]


def _routes(app: FastAPI, prefix: str) -> list[_Route]:
    """The app's routes under ``prefix``, with included routers flattened (FastAPI ≥ 0.16x keeps them nested)."""
    found: list[_Route] = []
    contexts: Iterable[Any]
    try:
        from fastapi.routing import iter_route_contexts

        contexts = iter_route_contexts(app.routes)
    except ImportError:  # older FastAPI: include_router copies the routes into app.routes
        contexts = [r for r in app.routes if isinstance(r, APIRoute)]
    for route in contexts:
        path, name = getattr(route, "path", None), getattr(route, "name", None)
        if isinstance(path, str) and isinstance(name, str) and (path == prefix or path.startswith(prefix + "/")):
            found.append(_Route(path, name, getattr(route, "openapi_extra", None) or {}))
    return found


def capability_statement(app: FastAPI, *, base_url: str, prefix: str = "/fhir") -> dict[str, Any]:
    """The CapabilityStatement of ``app``'s FHIR routes (``prefix``), served at ``base_url``."""
    generic: set[str] = set()
    excluded: dict[str, set[str]] = defaultdict(set)  # interaction → types its generic routes refuse
    flags: dict[str, dict[str, Any]] = defaultdict(dict)  # interaction → CapabilityStatement flags
    specific: dict[str, set[str]] = defaultdict(set)
    system: set[str] = set()
    operations: dict[str, dict[str, str]] = defaultdict(dict)  # type ("" for system) → name → definition
    for route in _routes(app, prefix):
        segments = route.path[len(prefix) + 1 :].split("/")
        op = next((s[1:] for s in segments if s.startswith("$")), None)
        rtype = segments[0] if segments[0] in REGISTRY else ""
        if op is not None:
            extra = route.openapi_extra
            definition = extra.get("x-fhir-operation-definition") or STANDARD_OPERATIONS.get(
                f"{rtype}-{op}", f"{base_url}/OperationDefinition/{rtype + '-' if rtype else ''}{op}"
            )
            operations[rtype][op] = str(definition)
            continue
        for code in route.interactions:
            if code in SYSTEM_INTERACTIONS:
                system.add(code)
            elif code in TYPE_INTERACTIONS:
                flags[code].update(route.openapi_extra.get("x-fhir-capability") or {})
                if segments[0] == "{resource_type}":
                    generic.add(code)
                    excluded[code].update(route.openapi_extra.get("x-fhir-not-for") or ())
                elif rtype:
                    specific[rtype].add(code)

    resources: list[dict[str, Any]] = []
    for rtype, params in REGISTRY.items():
        codes = {c for c in generic if rtype not in excluded[c]} | specific.get(rtype, set())
        if not codes and rtype not in operations:
            continue
        entry: dict[str, Any] = {"type": rtype}
        if codes:
            entry["interaction"] = [{"code": c} for c in TYPE_INTERACTIONS if c in codes]
            entry["versioning"] = "versioned"
            entry["readHistory"] = "vread" in codes
            entry["updateCreate"] = "update" in codes and bool(flags["update"].get("updateCreate"))
            for code in TYPE_INTERACTIONS:
                if code in codes:
                    entry.update({k: v for k, v in flags[code].items() if k != "updateCreate"})
        if "search-type" in codes:
            entry["searchParam"] = [
                {
                    "name": p.name,
                    "type": p.type,
                    **({"definition": p.definition} if p.definition else {}),
                    **({"documentation": p.documentation} if p.documentation else {}),
                }
                for p in params.values()
            ]
            for key, values in (
                ("searchInclude", include_values(rtype)),
                ("searchRevInclude", revinclude_values(rtype)),
            ):
                if values:  # FHIR JSON has no empty arrays
                    entry[key] = values
        if rtype in operations:
            entry["operation"] = [{"name": n, "definition": d} for n, d in sorted(operations[rtype].items())]
        resources.append(entry)

    rest: dict[str, Any] = {"mode": "server", "security": _security(app), "resource": resources}
    if system:
        rest["interaction"] = [{"code": c} for c in SYSTEM_INTERACTIONS if c in system]
    if operations.get(""):
        rest["operation"] = [{"name": n, "definition": d} for n, d in sorted(operations[""].items())]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _STARTED.isoformat().replace("+00:00", "Z"),
        "publisher": "City health interoperability hub",
        "kind": "instance",
        "software": {"name": "city-health-hub", "version": _software_version()},
        "implementation": {"description": "City health interoperability hub FHIR API", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [rest],
    }


def _security(app: FastAPI) -> dict[str, Any]:
    """SMART on FHIR bearer tokens, and the token endpoint clients get them from (built in, or the configured
    identity provider's)."""
    security: dict[str, Any] = {
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "description": "Bearer tokens (SMART v2 scopes; v1 accepted); see .well-known/smart-configuration",
    }
    settings = getattr(app.state, "settings", None)
    token = ""
    if settings is not None:
        token = settings.auth_issuer.rstrip("/") + "/auth/token" if settings.auth_builtin else settings.auth_token_url
    if token:
        security["extension"] = [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": "token", "valueUri": token}],
            }
        ]
    return security
