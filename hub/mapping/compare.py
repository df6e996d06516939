"""Field-by-field comparison of two FHIR resources of one type, on the fields that matter clinically.

:mod:`hub.mapping.conformance` pairs the resources of our Bundle with those of an expected Bundle and asks this
module which fields agree. A *field* is a named aspect of a resource (``Patient.birthDate``,
``Observation.value``, ``Patient.identifier.system``); each yields a list of normalised values, optionally
keyed (``identifier.system`` is keyed by the identifier's value, so that a system is compared with the system
of the same number). Values are compared as multisets with a field-specific equality; each value counts once:

* **agree** — a value of the expected side has an equal value on ours;
* **different** — both sides have a value (under the same key) and they are not equal;
* **missing** — the expected side has a value, ours has none left to pair with;
* **extra** — ours has a value, the expected side has none.

Resource ids, Bundle mechanics (``fullUrl``, ``request``), narrative and ``meta`` are never compared; references
are compared by what they point to (a report's results by the codes of the Observations they reference, an
appointment participant by the kind of actor), since both converters make their own ids.

Normalisations (each agreement reached through one of them is counted under its name, never silently):

``whitespace``
    text is trimmed and inner runs of whitespace collapse to one space (case is kept).
``instant``
    two dateTimes with a time of day agree when they are the same instant (``10:45:00+02:15`` =
    ``14:00:00+05:30``); precision must be the same (a date never equals a dateTime).
``local-time``
    two dateTimes with a time of day and different offsets agree when their wall-clock digits are the same:
    the message gave no offset, and each converter read it in its own zone (ours: the sender's configured
    zone; Microsoft's: its build machine's).
``number``
    decimals compare by value (``5`` = ``5.0``).
``system-alias``
    code system and identifier system URIs are compared after mapping known aliases to one spelling
    (``http://unitsofmeasure.org/`` → ``http://unitsofmeasure.org``, ``urn:oid:2.16.840.1.113883.6.1`` →
    ``http://loinc.org`` …, see :data:`SYSTEM_ALIASES`); a system that is no URI but the HL7 table 0396 name of a
    standard code system (``LN``, ``SCT``, ``I10`` …: CWE.3 copied as is) is that system (:data:`V2_SYSTEM_NAMES`).
``local-system``
    a namespace that a converter had to invent a URI for (a sender's local coding system or assigning
    authority: ``http://example.com/v2-to-fhir-converter/CodeSystem/ACR``, ``urn:hub:id:HCD``) is compared by
    its name, and so is a "system" that is not a URI at all (a CWE.3 name such as ``WinPath`` copied as is); a
    coding without a system agrees with one whose system is such a local one.
``location-name``
    an encounter location agrees when the expected Location's name occurs in our location reference's
    display (we make display references from the PL components; others make Location resources named by PL.1).
``range-text``
    a reference range agrees when its text agrees, or when both low and high agree.
``expected-without-system``
    an expected coding without a system agrees with ours of the same code that has one (the other converter
    left the system out; ours says which code system the code is from). The reverse never agrees.

Values of one field that disagree are paired, for the *different* count, first by relation (a location with
the same name, an identifier with the same value), then in order.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Resource = Mapping[str, Any]
Resolve = Callable[[Any], Resource | None]
Extract = Callable[[Resource, Resolve], list[tuple[str | None, Any]]]
Equal = Callable[[Any, Any], str | None]  # None: not equal; "" equal as is; else the normalisation's name

# Known spellings of one code system (or identifier system) → the canonical one.
SYSTEM_ALIASES: dict[str, str] = {
    "http://unitsofmeasure.org/": "http://unitsofmeasure.org",
    "urn:oid:2.16.840.1.113883.6.8": "http://unitsofmeasure.org",
    "urn:oid:2.16.840.1.113883.6.1": "http://loinc.org",
    "http://loinc.org/": "http://loinc.org",
    "urn:oid:2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "http://snomed.info/sct/": "http://snomed.info/sct",
    "urn:oid:2.16.840.1.113883.6.90": "http://hl7.org/fhir/sid/icd-10-cm",
    "urn:oid:2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    "urn:oid:2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "urn:oid:2.16.840.1.113883.12.292": "http://hl7.org/fhir/sid/cvx",
    "urn:oid:2.16.840.1.113883.6.69": "http://hl7.org/fhir/sid/ndc",
    "urn:oid:2.16.840.1.113883.4.1": "http://hl7.org/fhir/sid/us-ssn",
    "urn:oid:1.2.156.112604.1.2.1": "urn:oid:2.16.156.10011.1.3",
}
# HL7 table 0396 names of standard code systems: a converter that copies CWE.3 as the system ("LN") names that
# system, not a local one.
V2_SYSTEM_NAMES: dict[str, str] = {
    "LN": "http://loinc.org",
    "SCT": "http://snomed.info/sct",
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "CVX": "http://hl7.org/fhir/sid/cvx",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "UCUM": "http://unitsofmeasure.org",
}
# URI prefixes converters invent for a sender's local namespaces: compared by the namespace name.
_LOCAL_PREFIXES = (
    "http://example.com/v2-to-fhir-converter/CodeSystem/",
    "http://example.com/v2-to-fhir-converter/Identifier/",
    "http://example.com/v2-to-fhir-converter/sid/",
    "urn:hub:id:",
    "urn:hub:code:",
)
_V2_TABLE = re.compile(r"^http://terminology\.hl7\.org/CodeSystem/v2-(\d{4})$")
_DATE_TIME = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


# Normalising ---------------------------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """Trimmed text with runs of whitespace collapsed; None for nothing."""
    if value is None:
        return None
    out = " ".join(str(value).split())
    return out or None


def system(value: Any) -> str | None:
    """A system URI in its canonical spelling: aliases resolved, invented local URIs as ``local:<name>``."""
    uri = text(value)
    if uri is None:
        return None
    uri = SYSTEM_ALIASES.get(uri, uri)
    if ":" not in uri:
        # not a URI: a coding system's name (CWE.3 copied as is), a standard one's its URI, else a local one
        return V2_SYSTEM_NAMES.get(uri.upper(), "local:" + uri.upper())
    for prefix in _LOCAL_PREFIXES:
        if uri.startswith(prefix):
            return "local:" + uri[len(prefix) :].strip("/").upper()
    return uri


def _is_local(value: str | None) -> bool:
    return value is None or value.startswith("local:")


@dataclass(frozen=True, slots=True)
class When:
    """A parsed date/dateTime: its precision, wall-clock digits and (with a time of day) its instant."""

    raw: str
    precision: int  # 1 year … 3 day, 4 time of day
    wall: str  # the digits as written, without the offset
    instant: datetime | None


def when(value: Any) -> When | None:
    raw = text(value)
    if raw is None:
        return None
    m = _DATE_TIME.match(raw)
    if m is None:
        return When(raw, 0, raw, None)
    precision = 4 if m[4] else 3 if m[3] else 2 if m[2] else 1
    fraction = (m[7] or "").rstrip("0")
    wall = raw[: m.start(8)] if m[8] else raw
    if precision == 4:
        wall = f"{m[1]}-{m[2]}-{m[3]}T{m[4]}:{m[5]}:{m[6] or '00'}" + (f".{fraction}" if fraction else "")
    instant = None
    if precision == 4 and m[8]:
        offset = "+00:00" if m[8] == "Z" else m[8]
        instant = datetime.fromisoformat(f"{wall}{offset}")
    return When(raw, precision, wall, instant)


def number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Concept:
    """A CodeableConcept (or a Coding) reduced to its codings (system, code) and its text."""

    codings: tuple[tuple[str | None, str], ...]
    text: str | None


def concept(value: Any) -> Concept | None:
    if not isinstance(value, Mapping):
        return None
    codings: list[tuple[str | None, str]] = []
    raw_codings = value.get("coding") if "coding" in value else [value]
    for coding in raw_codings or []:
        if isinstance(coding, Mapping):
            code = text(coding.get("code"))
            if code is not None:
                codings.append((system(coding.get("system")), code))
    label = text(value.get("text")) if "coding" in value or "text" in value else None
    if not codings and label is None:
        return None
    return Concept(tuple(codings), label)


# Equalities ----------------------------------------------------------------------------------------------


def same_text(a: Any, b: Any) -> str | None:
    if a == b:
        return ""
    return None


def same_when(a: When, b: When) -> str | None:
    if a.raw == b.raw:
        return ""
    if a.precision != b.precision:
        return None
    if a.precision < 4:
        return "" if a.wall == b.wall else None
    if a.instant is not None and b.instant is not None and a.instant == b.instant:
        return "instant"
    if a.wall == b.wall:
        return "local-time"
    return None


def same_number(a: float, b: float) -> str | None:
    return "number" if abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)) else None


def same_system(a: str, b: str) -> str | None:
    return "" if a == b else None


def same_concept(a: Concept, b: Concept) -> str | None:
    """Concepts agree when they share a coding: the same code, and the same system or no standard one. ``a`` is
    the expected concept: an expected coding without a system agrees with ours of the same code whatever our
    system (``expected-without-system``); ours without a system never agrees with an expected standard one."""
    for sa, ca in a.codings:
        for sb, cb in b.codings:
            if ca != cb:
                continue
            if sa == sb:
                return "local-system" if sa is not None and sa.startswith("local:") else ""
            if _is_local(sa) and _is_local(sb):
                return "local-system"
            if sa is None:
                return "expected-without-system"
    if not a.codings and not b.codings and a.text is not None and a.text == b.text:
        return ""
    if (not a.codings or not b.codings) and a.text is not None and a.text == b.text:
        return ""
    return None


def same_location(a: tuple[str, str | None], b: tuple[str, str | None]) -> str | None:
    """(name or display, status): the statuses agree and one name contains the other."""
    (name_a, status_a), (name_b, status_b) = a, b
    if status_a != status_b:
        return None
    if name_a == name_b:
        return ""
    if name_a.casefold() in name_b.casefold() or name_b.casefold() in name_a.casefold():
        return "location-name"
    return None


def _same_place(a: tuple[str, str | None], b: tuple[str, str | None]) -> bool:
    return a[0].casefold() in b[0].casefold() or b[0].casefold() in a[0].casefold()


def same_range(a: tuple[Any, ...], b: tuple[Any, ...]) -> str | None:
    low_a, high_a, text_a = a
    low_b, high_b, text_b = b
    if text_a is not None and text_a == text_b:
        return ""
    if low_a is not None and high_a is not None and low_b is not None and high_b is not None:
        if same_number(low_a, low_b) and same_number(high_a, high_b):
            return "range-text"
    return None


def same_value(a: tuple[Any, ...], b: tuple[Any, ...]) -> str | None:
    """An Observation value: the same kind (quantity, text, concept, time, range …) and an equal content."""
    kind_a, kind_b = a[0], b[0]
    if kind_a != kind_b:
        # A number sent as text agrees with the same number as a Quantity (ST "5" vs NM 5): the value is the same.
        pair = {kind_a, kind_b}
        if pair == {"quantity", "string"}:
            qa = a[1] if kind_a == "quantity" else number(a[1])
            qb = b[1] if kind_b == "quantity" else number(b[1])
            if qa is not None and qb is not None and same_number(qa, qb):
                return "number"
        return None
    if kind_a == "quantity":
        return same_number(a[1], b[1]) if a[1] is not None and b[1] is not None else None
    if kind_a == "concept":
        return same_concept(a[1], b[1])
    if kind_a == "time":
        return same_when(a[1], b[1])
    if kind_a in ("range", "ratio"):
        if all(x is not None and y is not None and same_number(x, y) for x, y in zip(a[1:], b[1:], strict=True)):
            return "number"
        return None
    return "" if a[1] == b[1] else None


def same_unit(a: tuple[str | None, str | None], b: tuple[str | None, str | None]) -> str | None:
    """(unit text, code): agree when the texts or the codes agree."""
    if a[0] is not None and a[0] == b[0]:
        return ""
    if a[1] is not None and a[1] == b[1]:
        return ""
    return None


def same_actor(a: tuple[str, str | None], b: tuple[str, str | None]) -> str | None:
    return "" if a == b else None


def same_content(a: tuple[str | None, str | None], b: tuple[str | None, str | None]) -> str | None:
    """(content type, payload text): the payloads agree, and the content types when both have one."""
    if a[1] != b[1]:
        return None
    if a[0] is not None and b[0] is not None and a[0] != b[0]:
        return None
    return ""


# Walking -------------------------------------------------------------------------------------------------


def each(value: Any, *path: str) -> Iterator[Any]:
    """Every value at ``path`` (lists are walked through at every step)."""
    if isinstance(value, list):
        for item in value:
            yield from each(item, *path)
        return
    if not path:
        if value is not None:
            yield value
        return
    if isinstance(value, Mapping):
        yield from each(value.get(path[0]), *path[1:])


def _unkeyed(values: Iterator[Any]) -> list[tuple[str | None, Any]]:
    return [(None, v) for v in values if v is not None]


# Field extractors ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One compared aspect of a resource type."""

    name: str
    extract: Extract
    equal: Equal = same_text
    key: bool = field(default=False)  # whether values are keyed (compared only under the same key)
    related: Callable[[Any, Any], bool] | None = None  # pairs disagreeing values before pairing them in order


def texts(*path: str) -> Extract:
    return lambda r, _res: _unkeyed(text(v) for v in each(r, *path))


def codes(*path: str) -> Extract:
    return lambda r, _res: _unkeyed(text(v) for v in each(r, *path))


def times(*paths: tuple[str, ...]) -> Extract:
    """The first path that has values (``effectiveDateTime``, else ``effectivePeriod.start`` …)."""

    def extract(r: Resource, _res: Resolve) -> list[tuple[str | None, Any]]:
        for path in paths:
            found = _unkeyed(when(v) for v in each(r, *path))
            if found:
                return found
        return []

    return extract


def concepts(*paths: tuple[str, ...]) -> Extract:
    def extract(r: Resource, _res: Resolve) -> list[tuple[str | None, Any]]:
        out: list[tuple[str | None, Any]] = []
        for path in paths:
            out.extend(_unkeyed(concept(v) for v in each(r, *path)))
        return out

    return extract


def keyed(list_path: tuple[str, ...], key: Callable[[Any], str | None], value: Callable[[Any], Any]) -> Extract:
    """Values of the items of a list, each under the item's key (items without a key are skipped)."""

    def extract(r: Resource, _res: Resolve) -> list[tuple[str | None, Any]]:
        out: list[tuple[str | None, Any]] = []
        for item in each(r, *list_path):
            k = key(item)
            v = value(item)
            if k is not None and v is not None:
                out.append((k, v))
        return out

    return extract


def _identifier_value(item: Any) -> str | None:
    return text(item.get("value")) if isinstance(item, Mapping) else None


def _type_code(item: Any) -> Concept | None:
    return concept(item.get("type")) if isinstance(item, Mapping) else None


def _observation_value(r: Resource, _resolve: Resolve) -> list[tuple[str | None, Any]]:
    return [(None, v) for v in _values_of(r)]


def _values_of(r: Resource) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if "valueQuantity" in r:
        out.append(("quantity", number((r["valueQuantity"] or {}).get("value"))))
    for key in ("valueString", "valueBoolean", "valueInteger"):
        if key in r:
            out.append(("string", text(r[key])))
    if "valueCodeableConcept" in r:
        found = concept(r["valueCodeableConcept"])
        if found is not None:
            out.append(("concept", found))
    for key in ("valueDateTime", "valueTime"):
        if key in r:
            found_when = when(r[key])
            if found_when is not None:
                out.append(("time", found_when))
    if "valuePeriod" in r:
        out.append(("string", text(f"{r['valuePeriod'].get('start', '')}/{r['valuePeriod'].get('end', '')}")))
    if "valueRange" in r:
        rng = r["valueRange"] or {}
        out.append(("range", number((rng.get("low") or {}).get("value")), number((rng.get("high") or {}).get("value"))))
    if "valueRatio" in r:
        ratio = r["valueRatio"] or {}
        out.append(
            (
                "ratio",
                number((ratio.get("numerator") or {}).get("value")),
                number((ratio.get("denominator") or {}).get("value")),
            )
        )
    for component in r.get("component") or []:
        if isinstance(component, Mapping):
            out.extend(_values_of(component))
    return out


def _units(r: Resource, _res: Resolve) -> list[tuple[str | None, Any]]:
    out: list[tuple[str | None, Any]] = []
    for q in each(r, "valueQuantity"):
        unit, code = text(q.get("unit")), text(q.get("code"))
        if unit is not None or code is not None:
            out.append((None, (unit, code)))
    return out


def _ranges(r: Resource, _res: Resolve) -> list[tuple[str | None, Any]]:
    out: list[tuple[str | None, Any]] = []
    for rng in each(r, "referenceRange"):
        low = number((rng.get("low") or {}).get("value"))
        high = number((rng.get("high") or {}).get("value"))
        label = text(rng.get("text"))
        if low is not None or high is not None or label is not None:
            out.append((None, (low, high, label)))
    return out


def _results(r: Resource, resolve: Resolve) -> list[tuple[str | None, Any]]:
    """A report's results, as the codes of the Observations they reference."""
    out: list[tuple[str | None, Any]] = []
    for reference in each(r, "result"):
        target = resolve(reference)
        found = concept(target.get("code")) if target is not None else None
        if found is not None:
            out.append((None, found))
    return out


def _reference_type(reference: Any, resolve: Resolve) -> str | None:
    target = resolve(reference)
    if target is not None:
        return str(target.get("resourceType"))
    if isinstance(reference, Mapping):
        if isinstance(reference.get("type"), str):
            return str(reference["type"])
        ref = reference.get("reference")
        if isinstance(ref, str) and "/" in ref and not ref.startswith("urn:"):
            return ref.split("/")[-2]
    return None


def _participants(r: Resource, resolve: Resolve) -> list[tuple[str | None, Any]]:
    out: list[tuple[str | None, Any]] = []
    for participant in each(r, "participant"):
        kind = _reference_type(participant.get("actor"), resolve)
        if kind is not None:
            out.append((None, (kind, text(participant.get("status")))))
    return out


def _locations(r: Resource, resolve: Resolve) -> list[tuple[str | None, Any]]:
    out: list[tuple[str | None, Any]] = []
    for item in each(r, "location"):
        reference = item.get("location")
        target = resolve(reference)
        name = text(target.get("name")) if target is not None else None
        if name is None and isinstance(reference, Mapping):
            name = text(reference.get("display"))
        if name is not None:
            out.append((None, (name, f"[{text(item.get('status')) or '-'}]")))
    return out


def _medication(r: Resource, resolve: Resolve) -> list[tuple[str | None, Any]]:
    for key in ("medicationCodeableConcept", "vaccineCode"):
        found = concept(r.get(key))
        if found is not None:
            return [(None, found)]
    target = resolve(r.get("medicationReference"))
    found = concept(target.get("code")) if target is not None else None
    return [(None, found)] if found is not None else []


def _quantities(*path: str) -> Extract:
    def extract(r: Resource, _res: Resolve) -> list[tuple[str | None, Any]]:
        return _unkeyed(number(q.get("value")) for q in each(r, *path) if isinstance(q, Mapping))

    return extract


def _numbers(*path: str) -> Extract:
    return lambda r, _res: _unkeyed(number(v) for v in each(r, *path))


def _content(r: Resource, _res: Resolve) -> list[tuple[str | None, Any]]:
    out: list[tuple[str | None, Any]] = []
    for attachment in each(r, "content", "attachment"):
        payload: str | None = None
        if isinstance(attachment.get("data"), str):
            try:
                payload = text(base64.b64decode(attachment["data"], validate=False).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                payload = text(attachment["data"])
        elif attachment.get("url") is not None:
            payload = text(attachment.get("url"))
        if payload is not None:
            out.append((None, (text(attachment.get("contentType")), payload)))
    return out


def _by_family(element: str) -> Extract:
    """A name part (given, prefix, suffix) under its name's family name: the parts of one name are compared
    together, and a name another converter took from another segment is told by its family name."""

    def extract(r: Resource, _res: Resolve) -> list[tuple[str | None, Any]]:
        out: list[tuple[str | None, Any]] = []
        for name in each(r, "name"):
            key = text(name.get("family")) or ""
            out.extend((key, v) for v in (text(x) for x in each(name, element)) if v is not None)
        return out

    return extract


def _by_address(element: str) -> Extract:
    """An address part under its address's first line (or city): parts of one address are compared together."""

    def extract(r: Resource, _res: Resolve) -> list[tuple[str | None, Any]]:
        out: list[tuple[str | None, Any]] = []
        for address in each(r, "address"):
            lines = [text(x) for x in each(address, "line")]
            key = next((x for x in lines if x), None) or text(address.get("city")) or text(address.get("text")) or ""
            value = text(address.get(element))
            if value is not None:
                out.append((key, value))
        return out

    return extract


def _system_of(item: Any) -> str | None:
    return system(item.get("system")) if isinstance(item, Mapping) else None


def _telecom_value(item: Any) -> str | None:
    return text(item.get("value")) if isinstance(item, Mapping) else None


_MEDICATION_FIELDS = [
    Field("medication", _medication, same_concept),
    Field("status", codes("status")),
]

FIELDS: dict[str, list[Field]] = {
    "Patient": [
        Field("identifier.value", texts("identifier", "value")),
        Field("identifier.system", keyed(("identifier",), _identifier_value, _system_of), same_system, key=True),
        Field("identifier.type", keyed(("identifier",), _identifier_value, _type_code), same_concept, key=True),
        Field("name.family", texts("name", "family")),
        Field("name.given", _by_family("given"), key=True),
        Field("name.prefix", _by_family("prefix"), key=True),
        Field("name.suffix", _by_family("suffix"), key=True),
        Field("birthDate", times(("birthDate",)), same_when),
        Field("gender", codes("gender")),
        Field("address.line", texts("address", "line")),
        Field("address.city", _by_address("city"), key=True),
        Field("address.district", _by_address("district"), key=True),
        Field("address.state", _by_address("state"), key=True),
        Field("address.postalCode", _by_address("postalCode"), key=True),
        Field("address.country", _by_address("country"), key=True),
        Field("telecom.value", texts("telecom", "value")),
        Field("telecom.system", keyed(("telecom",), _telecom_value, lambda t: text(t.get("system"))), key=True),
        Field("telecom.use", keyed(("telecom",), _telecom_value, lambda t: text(t.get("use"))), key=True),
    ],
    "Encounter": [
        Field("class", concepts(("class",)), same_concept),
        Field("status", codes("status")),
        Field("period.start", times(("period", "start")), same_when),
        Field("period.end", times(("period", "end")), same_when),
        Field("location", _locations, same_location, related=_same_place),
    ],
    "Observation": [
        Field("code", concepts(("code",)), same_concept),
        Field("value", _observation_value, same_value),
        Field("unit", _units, same_unit),
        Field("interpretation", concepts(("interpretation",)), same_concept),
        Field("referenceRange", _ranges, same_range),
        Field("status", codes("status")),
        Field(
            "effective",
            times(("effectiveDateTime",), ("effectivePeriod", "start"), ("effectiveInstant",)),
            same_when,
        ),
    ],
    "DiagnosticReport": [
        Field("code", concepts(("code",)), same_concept),
        Field("status", codes("status")),
        Field("result", _results, same_concept),
    ],
    "ServiceRequest": [
        Field("code", concepts(("code",)), same_concept),
        Field("status", codes("status")),
    ],
    "Appointment": [
        Field("start", times(("start",)), same_when),
        Field("end", times(("end",)), same_when),
        Field("status", codes("status")),
        Field("participant", _participants, same_actor),
    ],
    "MedicationRequest": [
        *_MEDICATION_FIELDS,
        Field("dose", _quantities("dosageInstruction", "doseAndRate", "doseQuantity"), same_number),
        Field("quantity", _quantities("dispenseRequest", "quantity"), same_number),
        Field("repeats", _numbers("dispenseRequest", "numberOfRepeatsAllowed"), same_number),
    ],
    "MedicationDispense": [
        *_MEDICATION_FIELDS,
        Field("dose", _quantities("dosageInstruction", "doseAndRate", "doseQuantity"), same_number),
        Field("quantity", _quantities("quantity"), same_number),
    ],
    "MedicationAdministration": [
        *_MEDICATION_FIELDS,
        Field("dose", _quantities("dosage", "dose"), same_number),
    ],
    "Immunization": [
        *_MEDICATION_FIELDS,
        Field("dose", _quantities("doseQuantity"), same_number),
    ],
    "DocumentReference": [
        Field("type", concepts(("type",)), same_concept),
        Field("status", codes("status")),
        Field("content", _content, same_content),
    ],
}
"""The compared fields of each compared resource type (other types are not compared)."""


@dataclass(slots=True)
class Outcome:
    """One compared value: its field, its kind of result, the normalisation that made it agree, the values."""

    field: str
    result: str  # agree | different | missing | extra
    normalisation: str = ""
    expected: Any = None
    ours: Any = None
    key: str | None = None  # the key of a keyed field (the identifier value of identifier.system …)
    source: str = ""  # the text of the message the value most likely came from (see probe)

    def probe(self) -> str:
        """The text of the message this value most likely came from: the key of a keyed field, else the value's
        own text (a code without its system, a location's name)."""
        return self.key if self.key is not None else self.source


def compare(
    rtype: str, expected: Resource, ours: Resource | None, resolve_expected: Resolve, resolve_ours: Resolve
) -> list[Outcome]:
    """Compare two resources of ``rtype`` field by field (``ours`` None: everything expected is missing).

    Args:
        rtype: the resource type (a key of :data:`FIELDS`).
        expected: the expected resource.
        ours: our resource, or None when we made none to pair with it.
        resolve_expected: finds a resource of the expected Bundle from a Reference.
        resolve_ours: the same in our Bundle.

    Returns:
        One outcome per compared value.
    """
    outcomes: list[Outcome] = []
    for spec in FIELDS.get(rtype, []):
        exp_values = spec.extract(expected, resolve_expected)
        our_values = spec.extract(ours, resolve_ours) if ours is not None else []
        outcomes.extend(_compare_values(spec, exp_values, our_values))
    if ours is None:
        _anchor(outcomes)
    return outcomes


def _anchor(outcomes: list[Outcome]) -> None:
    """A resource with no counterpart: every value of it is probed by the resource's first value (its code, its
    identifier …), so that ``found only in`` tells where the whole resource came from."""
    anchor = next((o.source for o in outcomes if o.source), "")
    for outcome in outcomes:
        if outcome.key is None:
            outcome.source = anchor


def extra(rtype: str, ours: Resource, resolve_ours: Resolve) -> list[Outcome]:
    """Every compared value of a resource of ours that has no expected counterpart, as ``extra``."""
    outcomes: list[Outcome] = []
    for spec in FIELDS.get(rtype, []):
        outcomes.extend(_compare_values(spec, [], spec.extract(ours, resolve_ours)))
    _anchor(outcomes)
    return outcomes


def _compare_values(
    spec: Field, expected: list[tuple[str | None, Any]], ours: list[tuple[str | None, Any]]
) -> list[Outcome]:
    out: list[Outcome] = []
    keys: list[str | None] = []
    for key, _ in [*expected, *ours]:
        if key not in keys:
            keys.append(key)
    for key in keys:
        exp = [v for k, v in expected if k == key]
        mine = [v for k, v in ours if k == key]
        left: list[Any] = []
        for value in exp:
            for i, candidate in enumerate(mine):
                how = spec.equal(value, candidate)
                if how is not None:
                    out.append(Outcome(spec.name, "agree", how, _show(value), _show(candidate), key, _source(value)))
                    del mine[i]
                    break
            else:
                left.append(value)
        if spec.related is not None:
            unpaired: list[Any] = []
            for value in left:
                match = next((i for i, c in enumerate(mine) if spec.related(value, c)), None)
                if match is None:
                    unpaired.append(value)
                    continue
                candidate = mine.pop(match)
                out.append(Outcome(spec.name, "different", "", _show(value), _show(candidate), key, _source(value)))
            left = unpaired
        paired = min(len(left), len(mine))
        for value, candidate in zip(left[:paired], mine[:paired], strict=True):
            out.append(Outcome(spec.name, "different", "", _show(value), _show(candidate), key, _source(value)))
        for value in left[paired:]:
            out.append(Outcome(spec.name, "missing", "", _show(value), None, key, _source(value)))
        for candidate in mine[paired:]:
            out.append(Outcome(spec.name, "extra", "", None, _show(candidate), key, _source(candidate)))
    return out


def _source(value: Any) -> str:
    """The text a value was most likely read from in the message (for ``found only in``)."""
    if isinstance(value, When):
        # the date's digits as v2 writes them (the time may have been moved to another zone)
        return value.wall[:10].replace("-", "")
    if isinstance(value, Concept):
        return value.codings[0][1] if value.codings else (value.text or "")
    if isinstance(value, tuple):
        first = next((v for v in value if v is not None), "")
        return _source(first) if not isinstance(first, str) else first
    return "" if value is None else str(value)


def _show(value: Any) -> Any:
    """A value as plain text for reports (JSON-friendly)."""
    if isinstance(value, When):
        return value.raw
    if isinstance(value, Concept):
        codes_text = ", ".join(f"{s}|{c}" if s else c for s, c in value.codings)
        return codes_text or (value.text or "")
    if isinstance(value, tuple):
        return " ".join(str(_show(v)) for v in value if v is not None)
    return value


def score(outcomes: list[Outcome]) -> int:
    """How well two resources match: the number of agreeing values (for pairing resources)."""
    return sum(1 for o in outcomes if o.result == "agree")
