"""What a report's update does to its stored results: a whole resend drops the results it leaves out, a cancel
cancels them.

HL7 v2 corrects and deletes results one by one (v2.5.1 table 0085, OBX-11: ``C`` replaces "previously transmitted
final result data with the same observation ID", ``D`` deletes the OBX record, ``W`` posts it as wrong), so a
message that sends only what changes — a correction of one result, a cancel sent as the OBR alone — leaves the
report's other results as they are (:func:`hub.updates.merge_update` unites the result lists). A report sent again
*whole* is another matter: repeating segments without action codes are sent in snapshot mode (v2.5.1 §2.10.4.1,
"the information contained in the set of repeating segments … replaces the corresponding information in the
receiving application. This is equivalent to a deletion of the prior information followed by the addition of
the new information"). So:

* a **whole resend** — a report whose message lists at least one result with its value as ``final`` or
  ``preliminary`` (OBX-11 ``F``/``P``: an unchanged result sent again, or a new preliminary or final report) — is
  the report's result list: the report lists what the message lists (:func:`whole_resends`, the flag
  ``results_whole`` of :func:`hub.updates.merge_update`), and each stored result it no longer lists is *deleted*
  as v2 deletes a result: its Observation becomes ``entered-in-error`` (the hub's map of OBX-11 ``D`` and ``W``;
  FHIR R4 observation-status: "withdrawn following previous final release"). Only unlinking it would leave a
  ``final`` result of the patient that the lab's report no longer has, found by every search of the patient's
  results. A message whose listed results are all corrections, amendments or deletions (OBX-11 ``C``, ``A``,
  ``D``, ``W``), status changes without the value (``U``) or cancels (``X``), or that lists none, sends only what
  changes and drops nothing;
* a **cancelled report** (OBR-25 ``X``, "no results available; order cancelled") cancels its stored results the
  message does not send itself: each becomes ``cancelled``, except one already ``entered-in-error`` or
  ``cancelled``.

Only the report's own sender's results are changed (the producer tag), each as a new version (PUT entries added to
the Bundle, made from the stored version read again under lock where the database can), never one the Bundle
itself writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hub.security.access import producer_of

Key = tuple[str, str]
#: Reads the current versions of resources by key (locked until commit where the database can).
Reader = Callable[[set[Key]], dict[Key, dict[str, Any]]]

#: the statuses of a result sent again as it is (or for the first time): its message sends the whole report
_WHOLE = frozenset({"final", "preliminary"})
_DROPPED = "entered-in-error"
_CANCELLED = "cancelled"


def _key(entry: Mapping[str, Any]) -> Key | None:
    url = (entry.get("request") or {}).get("url")
    if (entry.get("request") or {}).get("method") == "PUT" and isinstance(url, str) and url.count("/") == 1:
        rtype, rid = url.split("/")
        return (rtype, rid)
    return None


def _references(report: Mapping[str, Any]) -> list[str]:
    items = report.get("result")
    if not isinstance(items, list):
        return []
    return [item["reference"] for item in items if isinstance(item, Mapping) and isinstance(item.get("reference"), str)]


def _observation_id(reference: str) -> str | None:
    rtype, _, rid = reference.partition("/")
    return rid if rtype == "Observation" and rid and "/" not in rid else None


def _has_value(observation: Mapping[str, Any]) -> bool:
    return any(key.startswith("value") or key in ("component", "dataAbsentReason") for key in observation)


def whole_resends(entries: Iterable[Mapping[str, Any]]) -> set[Key]:
    """The DiagnosticReports of the Bundle whose message sends the whole report: one of the results it lists is
    sent with its value as final or preliminary (see the module docstring)."""
    entries = list(entries)
    observations = {
        key[1]: entry["resource"]
        for entry in entries
        if (key := _key(entry)) is not None and key[0] == "Observation" and isinstance(entry.get("resource"), dict)
    }
    out: set[Key] = set()
    for entry in entries:
        key = _key(entry)
        resource = entry.get("resource")
        if key is None or key[0] != "DiagnosticReport" or not isinstance(resource, dict):
            continue
        for reference in _references(resource):
            rid = _observation_id(reference)
            observation = observations.get(rid) if rid is not None else None
            if observation is not None and observation.get("status") in _WHOLE and _has_value(observation):
                out.add(key)
                break
    return out


def left_results(
    reports: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any], Mapping[str, Any]]],
) -> dict[str, tuple[str, str | None]]:
    """The stored results the reports' updates leave: Observation id → (the status it gets, the report's producer).

    Args:
        reports: per report the message updates, (its stored version or None, the message's version, the version
            to store).
    """
    out: dict[str, tuple[str, str | None]] = {}
    for stored, converted, merged in reports:
        if stored is None:
            continue
        producer = producer_of(dict(merged))
        listed = set(_references(merged))
        for reference in _references(stored):
            rid = _observation_id(reference)
            if rid is not None and reference not in listed:
                out[rid] = (_DROPPED, producer)
        if converted.get("status") == _CANCELLED:
            sent = set(_references(converted))
            for reference in _references(merged):
                rid = _observation_id(reference)
                if rid is not None and reference not in sent:
                    out.setdefault(rid, (_CANCELLED, producer))
    return out


def updates(left: Mapping[str, tuple[str, str | None]], written: set[Key | None], read: Reader) -> list[dict[str, Any]]:
    """PUT entries for the stored results ``left`` names that the Bundle does not write, each with its new status
    (none for a result another sender produced, or whose status says as much already)."""
    wanted = {("Observation", rid) for rid in left} - written
    out: list[dict[str, Any]] = []
    for key, resource in sorted(read(wanted).items()) if wanted else ():
        status, producer = left[key[1]]
        current = resource.get("status")
        if producer is None or producer_of(resource) != producer:
            continue
        if current in (status, _DROPPED):
            continue
        changed = {**resource, "status": status}
        out.append({"resource": changed, "request": {"method": "PUT", "url": f"{key[0]}/{key[1]}"}})
    return out


__all__ = ["left_results", "updates", "whole_resends"]
