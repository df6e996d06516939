"""``hub conformance DIR``: our conversions against other converters' expected FHIR outputs, field by field.

For every message under a directory that has a ``<stem>.expected.json`` beside it, the message is converted
with our engine and the resources of both Bundles are compared on the fields that matter
(:data:`hub.mapping.compare.FIELDS`: identifiers, names, birth date, gender, address and telecom of a Patient;
class, status, period and locations of an Encounter; code, value, unit, interpretation, reference range,
status and time of an Observation; code, status and results of a DiagnosticReport; code and status of an
order; start, end, status and participants of an Appointment; medication, dose, quantity and repeats;
document type and content). Resource ids and Bundle mechanics are not compared: the resources of one type are
paired by content (each expected resource with the one of ours that agrees with it on the most fields), and the
resources of DELETE entries are left out (a deletion names what goes, not what it holds).

Disagreements the project makes on purpose are listed in ``mappings/DIFFERENCES.md``; each is counted as
*excluded*, by rule, and printed separately. The score of a message type is ``agree / (agree + disagree)``.
A message we cannot convert counts every expected value as missing.

A batch file (FHS/BHS … BTS/FTS) is split into its messages as ``hub convert`` splits it (the batch reader of
:mod:`hub.hl7.batch`), each compared as ``<path> message <n>``; its expected output holds one Bundle per
message, in order: a JSON array, or one Bundle per line as ``hub convert`` prints them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hub.config import Settings, get_settings
from hub.errors import HubError
from hub.hl7 import batch, charset, er7
from hub.mapping import compare
from hub.mapping.differences import Difference
from hub.mapping.engine import Converter

EXPECTED_SUFFIX = ".expected.json"
MESSAGE_SUFFIXES = (".hl7", ".txt", ".er7")


@dataclass(slots=True)
class Compared:
    """One compared value of one message, with the rule that excludes it, if any."""

    resource: str
    outcome: compare.Outcome
    excluded_by: str | None = None


@dataclass(slots=True)
class MessageResult:
    path: str  # relative to the compared directory
    message_type: str  # MSH-9.1_MSH-9.2, e.g. ADT_A04
    error: str | None = None  # why it was not converted
    values: list[Compared] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        c: Counter[str] = Counter()
        for v in self.values:
            c["excluded" if v.excluded_by else v.outcome.result] += 1
        return c


@dataclass(slots=True)
class Tally:
    messages: int = 0
    not_converted: int = 0
    agree: int = 0
    different: int = 0
    missing: int = 0
    extra: int = 0
    excluded: int = 0

    @property
    def disagree(self) -> int:
        return self.different + self.missing + self.extra

    @property
    def compared(self) -> int:
        return self.agree + self.disagree

    @property
    def score(self) -> float:
        return 100.0 * self.agree / self.compared if self.compared else 100.0

    def add(self, result: MessageResult) -> None:
        self.messages += 1
        if result.error is not None:
            self.not_converted += 1
        for value in result.values:
            if value.excluded_by:
                self.excluded += 1
            else:
                name = value.outcome.result
                setattr(self, name, getattr(self, name) + 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "not_converted": self.not_converted,
            "fields_compared": self.compared,
            "agree": self.agree,
            "different": self.different,
            "missing": self.missing,
            "extra": self.extra,
            "excluded": self.excluded,
            "score": round(self.score, 2),
        }


@dataclass(slots=True)
class Report:
    results: list[MessageResult]
    differences: list[Difference]
    by_type: dict[str, Tally]
    overall: Tally
    converted_only: Tally
    normalisations: Counter[str]
    exclusions: Counter[str]
    skipped: list[str]  # messages without an expected JSON output

    def as_json(self, details: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "overall": self.overall.as_json(),
            "converted_only": self.converted_only.as_json(),
            "by_message_type": {name: t.as_json() for name, t in sorted(self.by_type.items())},
            "normalisations": dict(sorted(self.normalisations.items())),
            "exclusions": {
                d.id: {
                    "count": self.exclusions.get(d.id, 0),
                    "resource": d.resource,
                    "field": d.field,
                    "reason": d.reason,
                }
                for d in self.differences
            },
            "not_converted": {r.path: r.error for r in self.results if r.error is not None},
            "skipped_without_expected_json": self.skipped,
        }
        if details:
            out["messages"] = [
                {
                    "path": r.path,
                    "message_type": r.message_type,
                    "error": r.error,
                    "disagreements": [
                        {
                            "resource": v.resource,
                            "field": v.outcome.field,
                            "result": v.outcome.result,
                            "expected": v.outcome.expected,
                            "ours": v.outcome.ours,
                            **({"excluded_by": v.excluded_by} if v.excluded_by else {}),
                        }
                        for v in r.values
                        if v.outcome.result != "agree"
                    ],
                    **dict(sorted(r.counts().items())),
                }
                for r in self.results
            ]
        return out


def message_files(directory: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(message, expected output) pairs under ``directory``, and the messages that have no expected JSON."""
    pairs: list[tuple[Path, Path]] = []
    skipped: list[str] = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.suffix not in MESSAGE_SUFFIXES or path.name.startswith("LICENSE"):
            continue
        expected = path.with_name(path.stem + EXPECTED_SUFFIX)
        if expected.is_file():
            pairs.append((path, expected))
        else:
            skipped.append(path.relative_to(directory).as_posix())
    return pairs, skipped


# (name in the report, message bytes or None when there is nothing to convert, expected Bundles, why not converted)
_ToCompare = tuple[str, bytes | None, list[Mapping[str, Any]], str | None]


def _messages(rel: str, path: Path, expected_path: Path, settings: Settings) -> list[_ToCompare]:
    """The messages of a file, each with its expected Bundle: the file itself, or each message of a batch file.

    A batch the hub would refuse whole (a count that disagrees, an unreadable header) and a batch whose expected
    output does not hold one Bundle per message are each one result that was not converted; for the former every
    expected value counts as missing, as for a message we cannot convert.
    """
    raw = path.read_bytes()
    text = expected_path.read_bytes().decode("utf-8-sig")
    if not batch.is_batch(raw):
        return [(rel, raw, [orjson.loads(text)], None)]
    try:
        found: Any = orjson.loads(text)
    except orjson.JSONDecodeError:  # one Bundle per line, as `hub convert` prints a batch
        found = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    bundles: list[Mapping[str, Any]] = found if isinstance(found, list) else [found]
    try:
        messages = batch.read(raw, settings).messages
    except batch.BatchRefused as exc:
        return [(rel, None, bundles, f"{exc.reason}: the hub would refuse this batch whole (at {exc.location})")]
    if len(bundles) != len(messages):
        error = f"the expected output holds {len(bundles)} Bundles for the {len(messages)} messages of the batch"
        return [(rel, None, [], error)]
    return [
        (f"{rel} message {n}", m, [b], None) for n, (m, b) in enumerate(zip(messages, bundles, strict=True), start=1)
    ]


def _decode(raw: bytes, default_charset: str) -> str:
    text, _codec = charset.decode(raw, charset.declared_charset(charset.read_msh_fields(raw)), default_charset)
    return text


def _message_type(message: er7.Message) -> str:
    msh = message.msh
    code = message.get(msh, 9, 1).strip().upper()
    event = message.get(msh, 9, 2).strip().upper()
    return f"{code}_{event}" if event else code or "?"


class _Index:
    """Finds the resources of a Bundle by ``Type/id`` and by ``fullUrl``."""

    def __init__(self, bundle: Mapping[str, Any]) -> None:
        self.by_key: dict[str, Mapping[str, Any]] = {}
        self.resources: list[Mapping[str, Any]] = []
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if not isinstance(resource, Mapping):
                continue
            request = entry.get("request")
            if isinstance(request, Mapping) and request.get("method") == "DELETE":
                continue  # a deletion says which resource goes, not what it holds: nothing to compare
            self.resources.append(resource)
            if isinstance(entry.get("fullUrl"), str):
                self.by_key[entry["fullUrl"]] = resource
            if isinstance(resource.get("id"), str):
                self.by_key[f"{resource.get('resourceType')}/{resource['id']}"] = resource

    def resolve(self, reference: Any) -> Mapping[str, Any] | None:
        if not isinstance(reference, Mapping):
            return None
        ref = reference.get("reference")
        return self.by_key.get(ref) if isinstance(ref, str) else None

    def of_type(self, rtype: str) -> list[Mapping[str, Any]]:
        return [r for r in self.resources if r.get("resourceType") == rtype]


def compare_bundles(expected: Mapping[str, Any], ours: Mapping[str, Any]) -> list[tuple[str, compare.Outcome]]:
    """Every compared value of two Bundles, resources paired by content within each compared type.

    Returns:
        (resource type, outcome) for each value.
    """
    exp_index, our_index = _Index(expected), _Index(ours)
    out: list[tuple[str, compare.Outcome]] = []
    for rtype in compare.FIELDS:
        exp_list, our_list = exp_index.of_type(rtype), our_index.of_type(rtype)
        if not exp_list and not our_list:
            continue
        table = [
            [compare.compare(rtype, e, o, exp_index.resolve, our_index.resolve) for o in our_list] for e in exp_list
        ]
        ranked = sorted(
            ((compare.score(table[i][j]), i, j) for i in range(len(exp_list)) for j in range(len(our_list))),
            key=lambda t: (-t[0], t[1], t[2]),
        )
        used_e: set[int] = set()
        used_o: set[int] = set()
        for _score, i, j in ranked:
            if i in used_e or j in used_o:
                continue
            used_e.add(i)
            used_o.add(j)
            out.extend((rtype, o) for o in table[i][j])
        for i, e in enumerate(exp_list):
            if i not in used_e:
                out.extend((rtype, o) for o in compare.compare(rtype, e, None, exp_index.resolve, our_index.resolve))
        for j, o in enumerate(our_list):
            if j not in used_o:
                out.extend((rtype, x) for x in compare.extra(rtype, o, our_index.resolve))
    return out


def _excluded_by(
    differences: list[Difference],
    rtype: str,
    outcome: compare.Outcome,
    path: str,
    message_type: str,
    segment_lines: list[str],
) -> str | None:
    if outcome.result == "agree":
        return None
    shown = outcome.ours if outcome.result == "extra" else outcome.expected
    probe = outcome.probe()
    for rule in differences:
        if rule.covers(rtype, outcome.field, outcome.result, shown, path, message_type, probe, segment_lines):
            return rule.id
    return None


def run(
    directory: Path,
    converter: Converter,
    *,
    differences: list[Difference],
    timezone: str | None = None,
    default_timezone: str = "Asia/Shanghai",
    default_charset: str = "UTF-8",
    settings: Settings | None = None,
) -> Report:
    """Convert and compare every message under ``directory`` that has an expected JSON output.

    Args:
        directory: searched recursively for ``*.hl7`` / ``*.txt`` messages with ``<stem>.expected.json``.
        converter: our converter.
        differences: the documented differences (:func:`hub.mapping.differences.load`).
        timezone: the zone of timestamps without an offset; None: MSH-7's offset, else ``default_timezone``.
        default_timezone: the zone of timestamps without an offset when a message's MSH-7 has none.
        default_charset: for messages whose MSH-18 is empty.
        settings: the batch size limits a batch file is read with (default: the process settings).

    Returns:
        The report: per message, per message type and overall.
    """
    pairs, skipped = message_files(directory)
    results: list[MessageResult] = []
    normalisations: Counter[str] = Counter()
    exclusions: Counter[str] = Counter()
    settings = settings or get_settings()
    for message_path, expected_path in pairs:
        rel = message_path.relative_to(directory).as_posix()
        for name, raw, expected, error in _messages(rel, message_path, expected_path, settings):
            result = MessageResult(name, "?", error=error)
            ours: Mapping[str, Any] = {"entry": []}
            segment_lines: list[str] = []
            try:
                if raw is not None:
                    message = er7.parse(_decode(raw, default_charset))
                    segment_lines = [seg.line for seg in message.segments]
                    result.message_type = _message_type(message)
                    ours = converter.convert(message, sender_timezone=timezone, default_timezone=default_timezone)
            except HubError as exc:
                where = getattr(exc, "location", None)
                result.error = exc.message + (f" (at {where})" if where else "")
            for expected_bundle in expected:
                for rtype, outcome in compare_bundles(expected_bundle, ours):
                    rule = _excluded_by(differences, rtype, outcome, name, result.message_type, segment_lines)
                    result.values.append(Compared(rtype, outcome, rule))
                    if rule is not None:
                        exclusions[rule] += 1
                    elif outcome.result == "agree" and outcome.normalisation:
                        normalisations[outcome.normalisation] += 1
            results.append(result)
    by_type: dict[str, Tally] = {}
    overall, converted_only = Tally(), Tally()
    for result in results:
        by_type.setdefault(result.message_type, Tally()).add(result)
        overall.add(result)
        if result.error is None:
            converted_only.add(result)
    return Report(results, differences, by_type, overall, converted_only, normalisations, exclusions, skipped)


def render(report: Report, console: Any, *, details: bool = False) -> None:
    """Print the report as tables: per message type, overall, normalisations, exclusions, failures.

    Args:
        report: what :func:`run` returned.
        console: a ``rich`` console.
        details: also list every disagreement, message by message.
    """
    from rich.table import Table as RichTable

    table = RichTable("message type", "msgs", "not conv.", "fields", "agree", "differ", "missing", "extra")
    table.add_column("excluded")
    table.add_column("agreement", justify="right")
    for name, tally in sorted(report.by_type.items()):
        table.add_row(
            name,
            str(tally.messages),
            str(tally.not_converted),
            str(tally.compared),
            str(tally.agree),
            str(tally.different),
            str(tally.missing),
            str(tally.extra),
            str(tally.excluded),
            f"{tally.score:.1f}%",
        )
    for label, tally in (("overall", report.overall), ("converted only", report.converted_only)):
        table.add_row(
            f"[bold]{label}[/bold]",
            str(tally.messages),
            str(tally.not_converted),
            str(tally.compared),
            str(tally.agree),
            str(tally.different),
            str(tally.missing),
            str(tally.extra),
            str(tally.excluded),
            f"[bold]{tally.score:.1f}%[/bold]",
        )
    console.print(table)
    if report.normalisations:
        console.print(
            "agreements reached through a normalisation: "
            + ", ".join(f"{name} {n}" for name, n in sorted(report.normalisations.items()))
        )
    excluded = RichTable("difference", "excluded values", "resource.field", "reason", title="documented differences")
    for rule in report.differences:
        excluded.add_row(
            rule.id, str(report.exclusions.get(rule.id, 0)), f"{rule.resource}.{rule.field}", rule.reason[:100]
        )
    if report.differences:
        console.print(excluded)
        unused = [d.id for d in report.differences if not report.exclusions.get(d.id)]
        if unused:
            console.print(f"differences that matched nothing: {', '.join(unused)}")
    for result in report.results:
        if result.error is not None:
            console.print(f"not converted: {result.path}: {result.error}", markup=False, highlight=False)
    if report.skipped:
        console.print(f"{len(report.skipped)} messages have no expected JSON output and were not compared")
    if details:
        for result in report.results:
            rows = [v for v in result.values if v.outcome.result != "agree"]
            if not rows:
                continue
            console.print(f"\n{result.path} ({result.message_type})", markup=False, highlight=False)
            for v in rows:
                o = v.outcome
                tag = f" [excluded by {v.excluded_by}]" if v.excluded_by else ""
                console.print(
                    f"  {v.resource}.{o.field} {o.result}: expected {o.expected!r}, ours {o.ours!r}{tag}",
                    markup=False,
                    highlight=False,
                )
