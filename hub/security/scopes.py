"""SMART on FHIR scopes: parsing, granting, and narrowing a request to what a client may have.

v2 syntax (https://build.fhir.org/ig/HL7/smart-app-launch/scopes-and-launch-context.html):
``<context>/<type>.<permissions>[?<query>]`` with context ``patient``, ``user`` or ``system``, type a resource
type or ``*``, permissions a subset of ``c r u d s`` written in that order, and an optional granular query of
token parameters (``patient/Observation.rs?category=http://…|laboratory``). The v1 suffixes are accepted:
``.read`` = ``rs``, ``.write`` = ``cud``, ``.*`` = ``cruds``. Other scopes (``openid``, ``fhirUser``,
``launch/patient``, ``offline_access`` …) are kept but grant no access to data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

Context = Literal["patient", "user", "system"]
Interaction = Literal[
    "read",
    "vread",
    "history-instance",
    "history-type",
    "search-type",
    "create",
    "update",
    "patch",
    "delete",
]

#: The SMART permission each FHIR interaction needs.
PERMISSION: dict[str, str] = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "search-type": "s",
    "history-type": "s",
}

_ORDER = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE_RE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]+)(?:\?(.*))?$")
# Granular queries may only use token-style parameters we can evaluate on a resource as well as in a search.
QUERY_PARAMS = frozenset({"category", "code", "status", "type", "_tag", "_security"})


class ScopeError(ValueError):
    """A resource scope that is not well formed."""


@dataclass(frozen=True, slots=True)
class Scope:
    """One SMART resource scope."""

    context: Context
    resource_type: str  # a FHIR resource type or "*"
    permissions: frozenset[str]
    query: tuple[tuple[str, str], ...] = ()

    def permits(self, permission: str, resource_type: str) -> bool:
        """Whether this scope grants ``permission`` (one of c r u d s) on ``resource_type``."""
        return permission in self.permissions and self.resource_type in ("*", resource_type)

    def covers(self, other: Scope) -> bool:
        """Whether ``other`` asks for nothing beyond this scope (used when granting a requested scope)."""
        return (
            self.context == other.context
            and self.resource_type in ("*", other.resource_type)
            and other.permissions <= self.permissions
            and set(self.query) <= set(other.query)
        )

    def matches(self, resource: Mapping[str, Any]) -> bool:
        """Whether ``resource`` satisfies this scope's granular query (always true without one)."""
        return all(token_matches(resource, name, value) for name, value in self.query)

    def __str__(self) -> str:
        perms = "".join(p for p in _ORDER if p in self.permissions)
        text = f"{self.context}/{self.resource_type}.{perms}"
        return f"{text}?{urlencode(self.query, safe='|:/')}" if self.query else text


def parse_scope(text: str) -> Scope | None:
    """Parse one scope.

    Args:
        text: a scope as written in a token or a token request.

    Returns:
        The resource scope, or None for a scope that names no resources (``openid``, ``launch/patient`` …).

    Raises:
        ScopeError: a ``patient/``, ``user/`` or ``system/`` scope that is malformed.
    """
    if not text.startswith(("patient/", "user/", "system/")):
        return None
    m = _SCOPE_RE.match(text)
    if m is None:
        raise ScopeError(f"malformed scope {text!r}")
    context, rtype, perms, query = m.groups()
    if perms in _V1:
        permissions = frozenset(_V1[perms])
    else:
        # v2: a non-empty subset of c r u d s, in that order, without repeats.
        if not perms or "".join(p for p in _ORDER if p in perms) != perms:
            raise ScopeError(f"malformed permissions in scope {text!r}")
        permissions = frozenset(perms)
    pairs: tuple[tuple[str, str], ...] = ()
    if query is not None:
        try:
            parsed = parse_qsl(query, keep_blank_values=False, strict_parsing=True)
        except ValueError as exc:
            raise ScopeError(f"malformed query in scope {text!r}") from exc
        if not parsed:
            raise ScopeError(f"empty query in scope {text!r}")
        for name, _value in parsed:
            if name not in QUERY_PARAMS:
                raise ScopeError(f"unsupported parameter {name!r} in scope {text!r}")
        pairs = tuple(sorted(parsed))
    ctx: Context = "patient" if context == "patient" else "user" if context == "user" else "system"
    return Scope(ctx, rtype, permissions, pairs)


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """The scopes of a token: resource scopes and the others (``openid``, ``launch/patient`` …)."""

    resource: tuple[Scope, ...] = ()
    other: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, scopes: str | Iterable[str], *, strict: bool = False) -> ScopeSet:
        """Parse a space-separated scope string or a list of scopes.

        Args:
            scopes: the scopes.
            strict: raise on a malformed resource scope instead of ignoring it (token requests are strict;
                a malformed scope inside a verified token simply grants nothing).

        Raises:
            ScopeError: with ``strict``, a malformed resource scope.
        """
        items = scopes.split() if isinstance(scopes, str) else list(scopes)
        resource: list[Scope] = []
        other: set[str] = set()
        for item in items:
            try:
                scope = parse_scope(item)
            except ScopeError:
                if strict:
                    raise
                continue
            if scope is None:
                other.add(item)
            elif scope not in resource:
                resource.append(scope)
        return cls(tuple(resource), frozenset(other))

    def granting(self, interaction: str, resource_type: str) -> list[Scope]:
        """The scopes that grant ``interaction`` on ``resource_type`` (empty: not granted)."""
        permission = PERMISSION.get(interaction)
        if permission is None:
            raise ValueError(f"unknown interaction {interaction!r}")
        return [s for s in self.resource if s.permits(permission, resource_type)]

    def __str__(self) -> str:
        return " ".join([*sorted(self.other), *(str(s) for s in self.resource)])

    def __bool__(self) -> bool:
        return bool(self.resource or self.other)


def narrow(requested: str | None, allowed: Sequence[str]) -> ScopeSet:
    """The scopes to grant for a token request: each requested scope that an allowed scope covers.

    Args:
        requested: the ``scope`` parameter of the request; None or empty grants everything allowed.
        allowed: the scopes registered for the client or user.

    Returns:
        The granted scopes (possibly empty: the caller answers ``invalid_scope``).

    Raises:
        ScopeError: a malformed requested resource scope.
    """
    allowed_set = ScopeSet.parse(allowed, strict=True)
    if not requested or not requested.strip():
        return allowed_set
    wanted = ScopeSet.parse(requested, strict=True)
    granted: list[Scope] = []
    for scope in wanted.resource:
        best = [a for a in allowed_set.resource if a.covers(scope)]
        if best:
            granted.append(scope)
            continue
        # Partly covered (patient/*.cruds asked, patient/*.rs allowed): grant the overlap.
        for a in allowed_set.resource:
            if a.context == scope.context and a.resource_type in ("*", scope.resource_type):
                overlap = a.permissions & scope.permissions
                if overlap and set(a.query) <= set(scope.query):
                    granted.append(Scope(scope.context, scope.resource_type, frozenset(overlap), scope.query))
    other = {s for s in wanted.other if s in allowed_set.other or s in _ALWAYS_GRANTABLE}
    return ScopeSet(tuple(dict.fromkeys(granted)), frozenset(other))


# Scopes that only ask for context or identity, granted to anyone who asks.
_ALWAYS_GRANTABLE = frozenset({"openid", "fhirUser", "launch/patient", "online_access"})


def _codings(value: Any) -> Iterable[tuple[str | None, str | None]]:
    """(system, code) pairs of a code, Coding, CodeableConcept, or a list of them."""
    if isinstance(value, list):
        for item in value:
            yield from _codings(item)
    elif isinstance(value, str):
        yield None, value
    elif isinstance(value, Mapping):
        if "coding" in value:
            yield from _codings(value["coding"])
        elif "code" in value or "system" in value:
            system = value.get("system")
            code = value.get("code")
            yield (system if isinstance(system, str) else None), (code if isinstance(code, str) else None)


def token_matches(resource: Mapping[str, Any], name: str, value: str) -> bool:
    """Whether ``resource`` matches a token search parameter ``name=value`` (``,`` separates alternatives).

    Values are ``code``, ``system|code``, ``system|`` or ``|code`` as in FHIR token search.
    """
    if name in ("_tag", "_security"):
        meta = resource.get("meta")
        element = meta.get(name[1:]) if isinstance(meta, Mapping) else None
    else:
        element = resource.get(name)
    codings = list(_codings(element))
    for alternative in value.split(","):
        if "|" in alternative:
            system, code = alternative.split("|", 1)
            for s, c in codings:
                if (not system and s is None and c == code) or (system and s == system and (not code or c == code)):
                    return True
        elif any(c == alternative for _, c in codings):
            return True
    return False
