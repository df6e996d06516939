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

import ast
import copy
import re
import threading
import typing
from collections.abc import Callable, Iterable, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

from hub.errors import HubError, InvalidInput, UnprocessableEntity

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
    # The official schema's complex types and backbone elements name their properties but not "type": "object",
    # so a number or a list where an element belongs ("identifier": [1]) would pass; R4 JSON has them as objects.
    for definition in definitions.values():
        if "properties" in definition and "type" not in definition:
            definition["type"] = "object"
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


# -- input checks of the REST API ------------------------------------------------------------------------------

# The issue codes (http://hl7.org/fhir/R4/valueset-issue-type.html) of the schema's rules.
_RULE_CODES = {"additionalProperties": "structure", "type": "structure", "required": "required"}
_LISTED = re.compile(r"must (?:not )?contain (\{.*\}|\[.*\]) properties")


def _path(root: str, parts: Iterable[Any]) -> str:
    expression = root
    for part in parts:
        expression += f"[{part}]" if isinstance(part, int) or str(part).isdigit() else f".{part}"
    return expression


def _schema_expression(exc: fastjsonschema.JsonSchemaValueException, root: str) -> str:
    """The FHIRPath-style location of a schema error: ``Patient.name[0].given``, the missing or unknown element
    for ``required`` and ``additionalProperties``."""
    expression = _path(root, (exc.path or [])[1:])
    listed = _LISTED.search(exc.message or "")
    if listed and exc.rule in ("required", "additionalProperties"):
        try:
            names = sorted(str(n) for n in ast.literal_eval(listed.group(1)))
        except (ValueError, SyntaxError):  # pragma: no cover - fastjsonschema's message format
            names = []
        value = exc.value if isinstance(exc.value, Mapping) else {}
        missing = [n for n in names if n not in value] if exc.rule == "required" else names
        if missing:
            expression += f".{missing[0]}"
    return expression


def _model_expression(error: Mapping[str, Any], root: str) -> str:
    expression = _path(root, error.get("loc", ()))
    choice = re.search(r"\['([a-z][A-Za-z]*?)[A-Z][A-Za-z]*'", str(error.get("msg", "")))
    if choice and "one field value" in str(error.get("msg", "")):
        expression += f".{choice.group(1)}[x]"  # a choice element given twice: value[x]
    return expression


def _model_code(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "structure"
    return "invariant" if "one field value" in str(error.get("msg", "")) else "value"


@cache
def models_agree(type_name: str) -> bool:
    """Whether the fhir.resources R4B model of a type has the same elements, with the same repetition, as the R4
    schema, at every level (so that its checks can be applied to R4 content). Computed once per type."""
    from fhir.resources.R4B import get_fhir_model_class

    definitions = load_schema()["definitions"]
    try:
        model = get_fhir_model_class(type_name)
    except (ValueError, KeyError):
        return False
    seen: set[tuple[str, Any]] = set()

    def same(definition: str, cls: Any) -> bool:
        if (definition, cls) in seen:
            return True
        seen.add((definition, cls))
        props = {k: v for k, v in definitions[definition].get("properties", {}).items() if not k.startswith("_")}
        props.pop("resourceType", None)
        fields = {
            (f.alias or n): f
            for n, f in cls.model_fields.items()
            if not (f.alias or n).startswith("_") and (f.alias or n) not in ("fhir_comments", "resourceType")
        }
        if set(props) != set(fields):
            return False
        for name, prop in props.items():
            annotation = fields[name].annotation
            if (prop.get("type") == "array") != _is_list(annotation):
                return False
            ref = prop.get("$ref") or (prop.get("items") or {}).get("$ref")
            sub = _model_in(annotation)
            target = ref.rsplit("/", 1)[1] if isinstance(ref, str) else None
            if (
                target
                and sub is not None
                and target not in ("ResourceList", "Resource")
                and "properties" in definitions.get(target, {})
                and not same(target, sub)
            ):
                return False
        return True

    return same(type_name, model)


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(_is_list(a) for a in typing.get_args(annotation))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def check_resource(
    resource: Any, resource_type: str, *, where: str | None = None, models: bool = True
) -> dict[str, Any]:
    """Check a resource sent to the REST API; return it.

    1. It must be a JSON object of ``resource_type`` (the URL's type): else :class:`InvalidInput` (400).
    2. The R4 JSON schema: unknown elements and wrong JSON types are :class:`InvalidInput` (400, ``structure``:
       not a readable resource of the type); missing required elements and invalid values are
       :class:`UnprocessableEntity` (422, ``required`` / ``value``).
    3. The fhir.resources R4B model, for the types where its elements agree with R4 (:func:`models_agree`):
       what it rejects beyond the schema (a choice element given twice …) is 422 (``invariant``).

    Args:
        resource: the parsed body (or a Bundle entry's resource).
        resource_type: the type the request names.
        where: the expression of the resource itself (default: the type; ``Bundle.entry[2].resource`` …).
        models: also apply the R4B model (step 3).

    Raises:
        InvalidInput, UnprocessableEntity: with ``expression`` naming the offending element.
    """
    root = where or resource_type
    if not isinstance(resource, dict):
        raise InvalidInput("the body must be a FHIR resource (a JSON object)", expression=root)
    rtype = resource.get("resourceType")
    if rtype != resource_type:
        raise InvalidInput(
            f"resourceType {str(rtype)[:64]!r} does not match the request's type {resource_type}",
            expression=f"{root}.resourceType",
        )
    try:
        validator_for(resource_type)(resource)
    except RecursionError as exc:
        raise InvalidInput("the resource is nested too deeply", expression=root) from exc
    except fastjsonschema.JsonSchemaValueException as exc:
        expression = _schema_expression(exc, root)
        message = (exc.message or "invalid").replace(exc.name or "data", _path(root, (exc.path or [])[1:]), 1)
        code = _RULE_CODES.get(exc.rule or "", "value")
        error: HubError = InvalidInput(message, expression=expression)
        if code != "structure":
            error = UnprocessableEntity(message, expression=expression)
        error.code = code
        raise error from None
    if models and models_agree(resource_type):
        from fhir.resources.R4B import get_fhir_model_class
        from pydantic import ValidationError

        try:
            get_fhir_model_class(resource_type).model_validate(resource)
        except RecursionError as exc:
            raise InvalidInput("the resource is nested too deeply", expression=root) from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            expression = _model_expression(first, root)
            error = UnprocessableEntity(f"{expression}: {first.get('msg')}", expression=expression)
            error.code = _model_code(first)
            raise error from None
    return resource
