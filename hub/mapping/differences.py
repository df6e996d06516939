"""The documented, deliberate differences from other converters' expected outputs (``mappings/DIFFERENCES.md``).

``hub conformance`` compares our Bundles with expected ones; where we differ on purpose (the expected output
contradicts the HL7 v2-to-FHIR implementation guide or the v2 standard), the difference is listed in the
table of ``DIFFERENCES.md`` with its reason, and the tool counts every disagreement it covers as *excluded*,
separately and by rule id, instead of as a disagreement. The table is the only input: a rule that is not in
the file does not exist, and a rule that matches nothing is reported as unused.

The table has the columns ``id | resource | field | result | value | found only in | messages | reason``:

* ``resource`` — a resource type; ``field`` — a compared field (:data:`hub.mapping.compare.FIELDS`) or ``*``;
* ``result`` — ``missing`` (expected has it, we do not), ``extra`` (we have it, expected does not),
  ``different`` (both have it, unequal) or ``any``;
* ``value`` — a glob over the value as printed (the expected one, or ours for ``extra``) or over its probe (for
  a keyed field, the key), ``*`` for any;
* ``found only in`` — segment ids (``GT1 IN2``): the rule holds only when the value's text (for a keyed field
  its key, for a code the code) occurs in the message in one of these segments and in no other; with ids
  marked ``!`` (``GT1 IN2 !PID``), when it occurs in one of the others and in none of the marked ones; ``*``
  for anywhere. This is how a rule says *where* the other converter took a value from, without listing values;
* ``messages`` — space-separated globs over the message's path relative to the compared directory
  (``google-healthcare-data-harmonization/*``) or its type (``ORU_R01``);
* values are written in backticks; ``\\|`` is a literal bar inside a cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from hub.errors import MappingTemplateError

_COLUMNS = ("id", "resource", "field", "result", "value", "found only in", "messages", "reason")
_RESULTS = frozenset({"missing", "extra", "different", "any"})
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True, slots=True)
class Difference:
    """One documented difference: which disagreements it covers, and why."""

    id: str
    resource: str
    field: str
    result: str
    value: str
    segments: tuple[str, ...]  # () = anywhere
    messages: tuple[str, ...]
    reason: str
    line: int

    def covers(
        self,
        resource: str,
        field: str,
        result: str,
        value: Any,
        path: str,
        message_type: str,
        probe: str = "",
        segment_lines: list[str] | None = None,
    ) -> bool:
        """Whether a disagreement (``result`` on ``resource.field``, shown value ``value``) is this one.

        Args:
            probe: the text the value came from (see :meth:`hub.mapping.compare.Outcome.probe`).
            segment_lines: the message's segments as text, for ``found only in``.
        """
        if not fnmatchcase(resource, self.resource) or not fnmatchcase(field, self.field):
            return False
        if self.result != "any" and self.result != result:
            return False
        if (
            self.value != "*"
            and not fnmatchcase("" if value is None else str(value), self.value)
            and not (probe and fnmatchcase(probe, self.value))
        ):
            return False
        if not any(fnmatchcase(path, glob) or fnmatchcase(message_type, glob) for glob in self.messages):
            return False
        if self.segments:
            if not probe or segment_lines is None:
                return False
            holders = {line[:3] for line in segment_lines if probe in line[4:]}
            wanted = {s for s in self.segments if not s.startswith("!")}
            excluded = {s[1:] for s in self.segments if s.startswith("!")}
            if wanted and not holders & wanted:
                return False
            if excluded:
                if holders & excluded:
                    return False
            elif not holders or not holders <= wanted:
                return False
        return True


def _cell(text: str) -> str:
    text = text.strip().replace("\\|", "|")
    if len(text) >= 2 and text.startswith("`") and text.endswith("`"):
        text = text[1:-1]
    return text


def load(path: Path) -> list[Difference]:
    """Read the differences table of a DIFFERENCES.md file (an absent file means no differences).

    Raises:
        MappingTemplateError: a malformed row (with file and line).
    """
    if not path.is_file():
        return []
    return load_rows(path.read_text(encoding="utf-8"), path)


def load_rows(text: str, path: Path | None = None) -> list[Difference]:
    """The differences of a Markdown text (the first table whose header has the columns).

    Raises:
        MappingTemplateError: a malformed row (with file and line).
    """
    where = str(path) if path is not None else None
    rules: list[Difference] = []
    header_seen = False
    seen_ids: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped.startswith("|"):
            continue
        cells = [_cell(c) for c in _CELL_SPLIT.split(stripped.strip("|"))]
        if [c.lower() for c in cells] == list(_COLUMNS):
            header_seen = True
            continue
        if not header_seen or all(set(c) <= set("-: ") for c in cells):
            continue
        if len(cells) != len(_COLUMNS):
            raise MappingTemplateError(
                f"a differences row has {len(cells)} cells, not {len(_COLUMNS)}", file=where, line=number
            )
        row = dict(zip(_COLUMNS, cells, strict=True))
        if row["result"] not in _RESULTS:
            raise MappingTemplateError(
                f"result must be one of {', '.join(sorted(_RESULTS))}, not {row['result']!r}",
                file=where,
                line=number,
            )
        if not row["id"] or row["id"] in seen_ids:
            raise MappingTemplateError(f"missing or repeated id {row['id']!r}", file=where, line=number)
        if not row["reason"]:
            raise MappingTemplateError("a difference needs its reason", file=where, line=number)
        seen_ids.add(row["id"])
        rules.append(
            Difference(
                id=row["id"],
                resource=row["resource"] or "*",
                field=row["field"] or "*",
                result=row["result"],
                value=row["value"] or "*",
                segments=tuple(s for s in row["found only in"].split() if s != "*"),
                messages=tuple(row["messages"].split()) or ("*",),
                reason=row["reason"],
                line=number,
            )
        )
    return rules
