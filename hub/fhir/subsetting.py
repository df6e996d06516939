"""Subsetting a resource for ``_summary`` and ``_elements`` (http://hl7.org/fhir/R4/search.html#summary).

Which elements are summary elements and which are mandatory (minimum cardinality 1) is read from the
``fhir.resources`` R4B models' field metadata (R4B changed neither flag for the types the hub serves), once
per type. A subsetted resource keeps ``resourceType``, ``id``, ``meta`` and its mandatory elements, and gets
the ``SUBSETTED`` tag so that nobody mistakes it for the whole resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}

Summary = Literal["true", "text", "data", "count", "false"]
_ALWAYS = frozenset({"resourceType", "id", "meta"})


@dataclass(frozen=True, slots=True)
class _Shape:
    mandatory: frozenset[str]  # JSON names (choice elements by their base name: "value" for value[x])
    summary: frozenset[str]
    choices: frozenset[str]  # base names of choice elements (value, effective …)


@lru_cache(maxsize=256)
def _shape(resource_type: str) -> _Shape | None:
    """The element flags of ``resource_type``, or None when there is no model for it."""
    from fhir.resources.R4B import get_fhir_model_class

    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, ImportError, AttributeError):
        return None
    mandatory: set[str] = set()
    summary: set[str] = set()
    choices: set[str] = set()
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        key = field.alias or name
        if key.startswith("_") or key == "fhir_comments":
            continue
        choice = extra.get("one_of_many")
        if isinstance(choice, str):
            choices.add(choice)
            if extra.get("one_of_many_required"):
                mandatory.add(choice)
            if extra.get("summary_element_property"):
                summary.add(choice)
            continue
        if field.is_required() or extra.get("element_required"):
            mandatory.add(key)
        if extra.get("summary_element_property"):
            summary.add(key)
    return _Shape(frozenset(mandatory), frozenset(summary), frozenset(choices))


def _base(key: str, choices: frozenset[str]) -> str:
    """The element name a JSON key belongs to: ``_status`` → ``status``, ``valueQuantity`` → ``value``."""
    name = key[1:] if key.startswith("_") else key
    for base in choices:
        if len(name) > len(base) and name.startswith(base) and name[len(base)].isupper():
            return base
    return name


def _tagged(resource: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag") or [] if not (isinstance(t, dict) and t.get("code") == SUBSETTED["code"])]
    meta["tag"] = [*tags, dict(SUBSETTED)]
    kept["meta"] = meta
    return kept


def subset(resource: dict[str, Any], *, elements: frozenset[str] | None, summary: Summary | None) -> dict[str, Any]:
    """``resource`` cut down to what ``_elements`` or ``_summary`` asks for (a new dict; the input is untouched).

    Args:
        elements: the top-level element names asked for (``_elements=status,code``; choice elements by their
            base name or their typed name), or None.
        summary: the ``_summary`` mode, or None. ``true``: summary elements; ``text``: text and mandatory
            elements; ``data``: everything but ``text``; ``false`` / ``count`` / None: the resource as it is.

    Returns:
        The resource itself when nothing is cut, else a subset tagged ``SUBSETTED``.
    """
    if elements is None and summary not in ("true", "text", "data"):
        return resource
    if summary == "data":
        if "text" not in resource:
            return resource
        return _tagged(resource, {k: v for k, v in resource.items() if k != "text"})
    shape = _shape(str(resource.get("resourceType")))
    if shape is None:
        return resource
    if summary == "true":
        wanted = shape.summary | shape.mandatory
    elif summary == "text":
        wanted = shape.mandatory | {"text"}
    else:
        assert elements is not None
        wanted = shape.mandatory | {_base(e, shape.choices) for e in elements}
    kept = {k: v for k, v in resource.items() if k in _ALWAYS or _base(k, shape.choices) in wanted}
    return _tagged(resource, kept)


__all__ = ["SUBSETTED", "Summary", "subset"]
