"""``_include`` and ``_revinclude`` (http://hl7.org/fhir/R4/search.html#include), answered from the reference index.

``_include=Observation:patient`` follows the ``patient`` references of the page's Observations (their
``search_reference`` rows) to the resources they name; ``_revinclude=Provenance:target`` finds the Provenances
whose ``target`` rows name a resource of the page. ``:iterate`` applies a rule again to what the previous round
included (``MedicationDispense?_include=MedicationDispense:prescription&_include:iterate=MedicationRequest:
medication``), for at most :data:`MAX_ROUNDS` rounds. ``Type:*`` follows every reference parameter of the type.

Included resources are de-duplicated (none is also a match), current and not deleted, round by round and in
(type, id) order within a round, at most :data:`MAX_INCLUDED` per page; the caller passes them through access
control like the matches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from hub.db.tables import Resource, SearchReference
from hub.fhir import jsoncodec
from hub.fhir.search_params import SearchParam, reference_params

RESOURCE = cast(Table, Resource.__table__)
REFERENCE = cast(Table, SearchReference.__table__)
MAX_INCLUDED = 1000  # included resources per page
MAX_ROUNDS = 4  # the first round and three :iterate rounds
_CHUNK = 500  # ids per IN list

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Include:
    """One ``_include`` / ``_revinclude`` value: ``source:param[:target]`` (``param`` None for ``*``)."""

    source: str
    param: SearchParam | None
    target: str | None = None
    iterate: bool = False
    reverse: bool = False

    @property
    def name(self) -> str:
        """The query parameter name (``_revinclude:iterate`` …)."""
        return ("_revinclude" if self.reverse else "_include") + (":iterate" if self.iterate else "")

    @property
    def value(self) -> str:
        text = f"{self.source}:{self.param.name if self.param else '*'}"
        return f"{text}:{self.target}" if self.target else text

    def params(self) -> tuple[SearchParam, ...]:
        return (self.param,) if self.param is not None else reference_params(self.source)

    def may_target(self, resource_type: str) -> bool:
        """Whether this rule's references can point at ``resource_type``."""
        if self.target is not None and self.target != resource_type:
            return False
        return any(not p.targets or resource_type in p.targets for p in self.params())


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    batch = sorted(set(ids))
    for start in range(0, len(batch), _CHUNK):
        yield batch[start : start + _CHUNK]


def _followed(session: Session, rule: Include, frontier: dict[str, set[str]], limit: int) -> set[Key]:
    """The resources the rule's references (or reverse references) lead to from ``frontier``."""
    names = [p.name for p in rule.params()]
    if not names:
        return set()
    found: set[Key] = set()
    if not rule.reverse:
        for chunk in _chunks(frontier.get(rule.source, ())):
            query = select(REFERENCE.c.target_type, REFERENCE.c.target_id).where(
                REFERENCE.c.resource_type == rule.source,
                REFERENCE.c.param.in_(names),
                REFERENCE.c.resource_id.in_(chunk),
                REFERENCE.c.target_type.is_not(None),
            )
            if rule.target is not None:
                query = query.where(REFERENCE.c.target_type == rule.target)
            found.update((t, i) for t, i in session.execute(query.distinct().limit(limit + 1)))
        return found
    for rtype, ids in sorted(frontier.items()):
        if not rule.may_target(rtype):
            continue
        for chunk in _chunks(ids):
            query = select(REFERENCE.c.resource_id).where(
                REFERENCE.c.resource_type == rule.source,
                REFERENCE.c.param.in_(names),
                REFERENCE.c.target_id.in_(chunk),
                REFERENCE.c.target_type == rtype,
            )
            found.update((rule.source, i) for i in session.scalars(query.distinct().limit(limit + 1)))
    return found


def _fetch(session: Session, keys: list[Key]) -> list[dict[str, Any]]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for rtype, rid in keys:
        by_type[rtype].append(rid)
    rows: list[tuple[str, str, str]] = []
    for rtype, ids in sorted(by_type.items()):
        for chunk in _chunks(ids):
            query = select(RESOURCE.c.resource_type, RESOURCE.c.id, RESOURCE.c.content).where(
                RESOURCE.c.resource_type == rtype, RESOURCE.c.id.in_(chunk), RESOURCE.c.deleted.is_(False)
            )
            rows.extend((r[0], r[1], r[2]) for r in session.execute(query))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [jsoncodec.loads(content) for _, _, content in rows]


def resolve(
    session: Session, matches: list[dict[str, Any]], rules: tuple[Include, ...]
) -> tuple[list[dict[str, Any]], bool]:
    """The resources ``rules`` include for a page of ``matches``.

    Returns:
        The included resources, and whether :data:`MAX_INCLUDED` cut them short.
    """
    have: set[Key] = {(str(r["resourceType"]), str(r["id"])) for r in matches}
    frontier: dict[str, set[str]] = defaultdict(set)
    for rtype, rid in have:
        frontier[rtype].add(rid)
    included: list[dict[str, Any]] = []
    limited = False
    for round_ in range(MAX_ROUNDS):
        active = [r for r in rules if round_ == 0 or r.iterate]
        if not active or not frontier:
            break
        room = MAX_INCLUDED - len(included)
        wanted: set[Key] = set()
        for rule in active:
            wanted |= _followed(session, rule, frontier, room)
        new = sorted(wanted - have)
        if len(new) > room:
            new, limited = new[:room], True
        fetched = _fetch(session, new)
        have.update(new)
        included.extend(fetched)
        frontier = defaultdict(set)
        for resource in fetched:
            frontier[str(resource["resourceType"])].add(str(resource["id"]))
        if limited:
            break
    return included, limited


__all__ = ["MAX_INCLUDED", "MAX_ROUNDS", "Include", "resolve"]
