"""FHIR R4 validation against the official JSON schema, plus an optional fhir.resources (R4B) model check.

The schema (``hub/fhir/schema/fhir.r4.schema.json``, see the README beside it) is loaded on first use and
compiled with fastjsonschema once per resource type. In each compiled validator the schema's
``ResourceList`` (which ``contained`` and ``Bundle.entry.resource`` refer to, a ``oneOf`` over all 146
resource types) is replaced by "any object": a validator per type stays small and fast to build, and a
Bundle's resources are validated one by one against their own type by :func:`validate_bundle`.

The JSON schema checks element names, cardinality, types, primitive formats (dates, codes, ids …) and
required-binding codes; it does not check FHIRPath invariants. fhir.resources 8.x has no R4 models, only
R4B (4.3.0), which for the resources the hub writes agrees with R4 on the wire but is laxer in places (it
accepts ``"gender": "F"``); the schema is the arbiter, the models a second opinion.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "fhir.r4.schema.json"

_lock = threading.Lock()


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The official R4 JSON schema as a dict (read once; callers must not modify it)."""
    data: dict[str, Any] = orjson.loads(SCHEMA_PATH.read_bytes())
    return data


@lru_cache(maxsize=1)
def resource_types() -> frozenset[str]:
    """The names of the R4 resource types."""
    schema = load_schema()
    return frozenset(entry["$ref"].rsplit("/", 1)[1] for entry in schema["oneOf"])


@lru_cache(maxsize=1)
def _definitions() -> dict[str, Any]:
    definitions: dict[str, Any] = copy.deepcopy(load_schema()["definitions"])
    definitions["ResourceList"] = {"type": "object"}
    return definitions


@cache
def _validator(type_name: str) -> Callable[[Any], Any]:
    root = {
        "$schema": load_schema()["$schema"],
        "definitions": _definitions(),
        "$ref": f"#/definitions/{type_name}",
    }
    validate: Callable[[Any], Any] = fastjsonschema.compile(root)
    return validate


def validator_for(type_name: str) -> Callable[[Any], Any]:
    """The compiled validator of one schema definition (a resource or data type); built on first use.

    Raises:
        KeyError: no such definition in the R4 schema.
    """
    if type_name not in load_schema()["definitions"]:
        raise KeyError(type_name)
    with _lock:  # fastjsonschema compiles by exec; one at a time
        return _validator(type_name)


def validate_r4(resource: Mapping[str, Any], *, models: bool = False) -> list[str]:
    """Check one resource against the FHIR R4 JSON schema.

    Args:
        resource: a resource as plain JSON data (``resourceType`` first-class).
        models: also build the fhir.resources R4B model and report what it rejects.

    Returns:
        Error messages (the schema validator stops at the first error; the model check adds its own); empty
        when the resource is valid.
    """
    if not isinstance(resource, Mapping):
        return ["a resource must be a JSON object"]
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or rtype not in resource_types():
        return [f"unknown resourceType {rtype!r}"]
    errors: list[str] = []
    try:
        validator_for(rtype)(resource)
    except fastjsonschema.JsonSchemaValueException as exc:
        where = ".".join(str(p) for p in (exc.path or [])[1:])
        errors.append(f"{rtype}{'.' + where if where else ''}: {exc.message}")
    if models:
        errors.extend(validate_r4b_model(resource))
    return errors


def validate_r4b_model(resource: Mapping[str, Any]) -> list[str]:
    """The fhir.resources R4B model's objections to a resource (empty when it accepts it)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    rtype = str(resource.get("resourceType"))
    try:
        model = get_fhir_model_class(rtype)
    except ValueError:
        return [f"fhir.resources R4B has no model {rtype!r}"]
    try:
        model.model_validate(dict(resource))
    except ValidationError as exc:
        return [f"{rtype} (R4B model): " + "; ".join(_model_error(e) for e in exc.errors())]
    return []


def _model_error(error: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()))
    return f"{loc}: {error.get('msg')}" if loc else str(error.get("msg"))


def validate_bundle(bundle: Mapping[str, Any], *, models: bool = False) -> list[str]:
    """Check a Bundle: its own structure against the schema, then each entry's resource against its type.

    Returns:
        Error messages, each prefixed with the entry index for entry resources; empty when all is valid.
    """
    errors = validate_r4(bundle)
    entries = bundle.get("entry") if isinstance(bundle, Mapping) else None
    for i, entry in enumerate(entries or []):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if resource is None:
            continue
        errors.extend(f"entry[{i}] {e}" for e in validate_r4(resource, models=models))
    return errors
