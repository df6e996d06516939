"""The hub's public API: what the city services (``services/``) and deployments may use.

Services reach the core only through these names (or the FHIR REST API); everything else in ``hub`` is internal
and may change. Names are loaded on first use, so ``import hub`` stays cheap for the command line and workers.

- configuration: :class:`Settings`, :func:`get_settings`
- application: :func:`create_app` (pass the services' routers), :data:`celery_app`
- database: :func:`session_scope`, :func:`get_sessionmaker`, :data:`Base` (services' own tables share the metadata)
- FHIR store: :mod:`store` (``read``, ``vread``, ``put``, ``create``, ``delete``, ``apply_bundle``, ``search``,
  ``history``)
- events: :func:`subscribe` (react to resource changes from the outbox), :class:`ResourceEvent`
- security: :class:`Access`, :class:`Principal`, :data:`PrincipalDep`, :func:`audited`
- identity: :func:`expand_patient_ids` (every record of one person)
- errors: :class:`HubError` and its subclasses in :mod:`hub.errors`
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hub.config import Settings, get_settings

if TYPE_CHECKING:
    from hub.app import create_app
    from hub.db import get_sessionmaker, session_scope
    from hub.db.tables import Base
    from hub.errors import Conflict, Forbidden, HubError, InvalidInput, NotFound
    from hub.events import ResourceEvent, subscribe
    from hub.fhir import store
    from hub.identity.linking import expand_patient_ids
    from hub.security.access import Access
    from hub.security.audit import audited
    from hub.security.deps import PrincipalDep
    from hub.security.principal import Principal
    from hub.tasks.app import celery_app

_LAZY: dict[str, tuple[str, str | None]] = {
    "create_app": ("hub.app", "create_app"),
    "session_scope": ("hub.db", "session_scope"),
    "get_sessionmaker": ("hub.db", "get_sessionmaker"),
    "Base": ("hub.db.tables", "Base"),
    "HubError": ("hub.errors", "HubError"),
    "InvalidInput": ("hub.errors", "InvalidInput"),
    "NotFound": ("hub.errors", "NotFound"),
    "Conflict": ("hub.errors", "Conflict"),
    "Forbidden": ("hub.errors", "Forbidden"),
    "subscribe": ("hub.events", "subscribe"),
    "ResourceEvent": ("hub.events", "ResourceEvent"),
    "store": ("hub.fhir.store", None),
    "expand_patient_ids": ("hub.identity.linking", "expand_patient_ids"),
    "Access": ("hub.security.access", "Access"),
    "audited": ("hub.security.audit", "audited"),
    "PrincipalDep": ("hub.security.deps", "PrincipalDep"),
    "Principal": ("hub.security.principal", "Principal"),
    "celery_app": ("hub.tasks.app", "celery_app"),
}

__all__ = [
    "Settings",
    "get_settings",
    "create_app",
    "session_scope",
    "get_sessionmaker",
    "Base",
    "HubError",
    "InvalidInput",
    "NotFound",
    "Conflict",
    "Forbidden",
    "subscribe",
    "ResourceEvent",
    "store",
    "expand_patient_ids",
    "Access",
    "audited",
    "PrincipalDep",
    "Principal",
    "celery_app",
]


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'hub' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
