"""Terminology tables compiled to dict lookups: a source code → a target coding.

A table is data (``mappings/terminology/<name>.yaml``). What a lookup returns depends on the FHIR element
it fills: a ``code`` (``gender``), a ``Coding`` (``Encounter.class``), a ``CodeableConcept`` (the
translation first, then the sender's original coding, so nothing the sender said is lost), or a plain
string for tables that translate names (``coding-systems``: ``LN`` → ``http://loinc.org``).

``unmapped`` says what happens to a code that is not in the table: ``keep`` (the code is kept: as the
``text`` of a CodeableConcept, as a ``Coding`` without a system, or as the code itself), ``default`` (the
table's ``default`` code), or ``omit``.

A table of a sender's *local codes* (``local_codes: true``: lab tests → LOINC, diagnoses → ICD-10 clinical
edition …) translates only codings that carry no standard system (a LOINC code is never looked up in a table
of local codes), and each local code it cannot translate is kept and reported in the conversion report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.mapping.templates import TableEntry, TerminologyTable


@dataclass(frozen=True, slots=True)
class Target:
    code: str
    display: str | None
    system: str | None

    def coding(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.system:
            out["system"] = self.system
        out["code"] = self.code
        if self.display:
            out["display"] = self.display
        return out


class Table:
    """A compiled terminology table."""

    __slots__ = (
        "name",
        "source_system",
        "target_system",
        "ignore_case",
        "unmapped",
        "default",
        "local_codes",
        "report_unknown",
        "_codes",
        "_patterns",
        "_aliases",
        "_spelling",
        "include",
        "alternate_system",
    )

    def __init__(self, model: TerminologyTable) -> None:
        self.name = model.table
        self.source_system = model.source_system
        self.target_system = model.target_system
        self.ignore_case = model.ignore_case
        self.unmapped = model.unmapped
        # A sender's own codes: looked up only for codings without a standard system, misses reported.
        self.local_codes = model.local_codes
        # A code it does not have is reported (untranslated-code), unless it holds local codes (unmapped-local-code).
        self.report_unknown = model.report_unknown and not model.local_codes
        # the tables whose codes it translates too (``include``), resolved by the compiler: add_included
        self.include = tuple(model.include)
        # in_table on a whole coded field: the alternate identifier too, under this coding system (upper case)
        self.alternate_system = model.alternate_system.upper() if model.alternate_system else None
        codes: dict[str, Target] = {}
        aliases: set[str] = set()
        spelling: dict[str, str] = {}
        for source, entry in model.codes.items():
            key = source.upper() if model.ignore_case else source
            codes[key] = self._target(entry)
            spelling[key] = source
            if isinstance(entry, TableEntry) and entry.alias:
                aliases.add(key)
        self._codes = codes
        self._aliases = frozenset(aliases)
        self._spelling = spelling
        self._patterns = [
            (re.compile(p.match, re.IGNORECASE if model.ignore_case else 0), p.code, p.display, p.system)
            for p in model.patterns
        ]
        self.default: Target | None = None
        if model.default is not None:
            self.default = codes.get(model.default.upper() if model.ignore_case else model.default) or Target(
                model.default, None, model.target_system
            )

    def add_included(self, others: Sequence[Table]) -> None:
        """The codes of the tables the table includes, after its own (an own code wins), as those tables translate
        them; one level (an included table's own codes). Called once, when the tables of a library are compiled."""
        aliases = set(self._aliases)
        for other in others:
            for key, target in other._codes.items():
                source = other._spelling.get(key, key)
                own = source.upper() if self.ignore_case else source
                if own in self._codes:
                    continue
                self._codes[own] = target
                self._spelling[own] = source
                if key in other._aliases:
                    aliases.add(own)
        self._aliases = frozenset(aliases)

    def _target(self, entry: str | TableEntry) -> Target:
        if isinstance(entry, str):
            return Target(entry, None, self.target_system)
        return Target(entry.code, entry.display, entry.system or self.target_system)

    def targets(self) -> list[Target]:
        """Every target code the table can produce (for load-time checks against value sets)."""
        out = list(self._codes.values())
        if self.default is not None:
            out.append(self.default)
        return out

    def entries(self) -> dict[str, Target]:
        """Source code (upper case for an ``ignore_case`` table) → translation."""
        return dict(self._codes)

    def source_codes(self) -> frozenset[str]:
        """The codes the table translates (as written, or upper case for an ``ignore_case`` table)."""
        return frozenset(self._codes)

    @property
    def has_patterns(self) -> bool:
        return bool(self._patterns)

    def lookup(self, code: str) -> Target | None:
        """The translation of ``code``, or None when it is not in the table (patterns tried after codes)."""
        key = code.upper() if self.ignore_case else code
        found = self._codes.get(key)
        if found is not None:
            return found
        for regex, template, display, system in self._patterns:
            m = regex.fullmatch(code)
            if m:
                groups = m.groups()
                value = template
                for i, group in enumerate(groups, start=1):
                    value = value.replace("{" + str(i) + "}", group or "")
                return Target(value, display, system or self.target_system)
        return None

    def is_source_code(self, code: str) -> bool:
        """True when ``code`` is listed as a code of the source system (not a pattern, not an alias)."""
        key = code.upper() if self.ignore_case else code
        return self.source_system is not None and key in self._codes and key not in self._aliases

    def spelled(self, code: str) -> str:
        """A source code as the table writes it: the code system's own spelling of a code an ``ignore_case`` table
        matched in another case (``mr`` → ``MR``: codes are case-sensitive, and ``mr`` is no code of v2-0203)."""
        if not self.ignore_case:
            return code
        return self._spelling.get(code.upper(), code)

    def contains(self, code: str) -> bool:
        return self.lookup(code) is not None

    @property
    def contains_test(self) -> Callable[[str], bool]:
        """``contains`` as a condition (``in_table``) calls it for every item it reads, on the hot path (a result's
        OBX-3 per OBX): the dict's own membership test, no Python call, when no case folding or pattern is needed."""
        if self.ignore_case or self._patterns:
            return self.contains
        return self._codes.__contains__

    def resolve(self, code: str) -> Target | None:
        """The translation, or the table's answer for an unmapped code (``default``), or None."""
        found = self.lookup(code)
        if found is not None:
            return found
        if self.unmapped == "default":
            return self.default
        return None
