"""What the FHIR R4 schema says about an element: its type, whether it repeats, its codes, its choice siblings.

Used only while templates are compiled: every ``path`` a template writes is checked here, so that a typo
(``birthdate``), a wrong cardinality or a constant code outside a required value set is a load-time error
with file and line, not an invalid resource found in production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hub.fhir.validation import load_schema

_UPPER_SPLIT = re.compile(r"(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class ElementInfo:
    """One element of a FHIR type."""

    name: str
    type: str  # a schema definition name: "string", "code", "Identifier", "Encounter_Hospitalization" …
    is_list: bool
    enum: frozenset[str] | None  # the allowed codes of a code element bound to a required value set
    choice: tuple[str, ...]  # every variant of the choice element this one belongs to (itself included), or ()


class FhirSchema:
    """Read-only navigation over the R4 schema's definitions."""

    def __init__(self, schema: dict[str, Any] | None = None) -> None:
        self._schema = schema if schema is not None else load_schema()
        self._defs: dict[str, Any] = self._schema["definitions"]
        self._elements: dict[tuple[str, str], ElementInfo | None] = {}

    @cached_property
    def resource_types(self) -> frozenset[str]:
        return frozenset(entry["$ref"].rsplit("/", 1)[1] for entry in self._schema["oneOf"])

    @cached_property
    def _type_suffixes(self) -> frozenset[str]:
        return frozenset(name[0].upper() + name[1:] for name in self._defs if "_" not in name)

    def is_type(self, name: str) -> bool:
        return name in self._defs and name != "ResourceList"

    def is_primitive(self, name: str) -> bool:
        definition = self._defs.get(name)
        return isinstance(definition, dict) and "properties" not in definition and "type" in definition

    def primitive_json_type(self, name: str) -> str:
        """``string``, ``number`` or ``boolean`` for a primitive type."""
        return str(self._defs[name]["type"])

    def pattern(self, name: str) -> str | None:
        definition = self._defs.get(name) or {}
        pattern = definition.get("pattern")
        return pattern if isinstance(pattern, str) else None

    def properties(self, type_name: str) -> list[str]:
        props = self._defs.get(type_name, {}).get("properties", {})
        return [p for p in props if not p.startswith("_")]

    def required(self, type_name: str) -> list[str]:
        return [r for r in self._defs.get(type_name, {}).get("required", []) if r != "resourceType"]

    def element(self, type_name: str, name: str) -> ElementInfo | None:
        """The element ``name`` of ``type_name``, or None if R4 has no such element."""
        key = (type_name, name)
        if key not in self._elements:
            self._elements[key] = self._element(type_name, name)
        return self._elements[key]

    def _element(self, type_name: str, name: str) -> ElementInfo | None:
        if name.startswith("_"):
            return self._primitive_extensions(type_name, name)
        if name == "resourceType":
            return None
        props = self._defs.get(type_name, {}).get("properties", {})
        prop = props.get(name)
        if prop is None:
            return None
        is_list = prop.get("type") == "array"
        inner = prop.get("items", {}) if is_list else prop
        enum = inner.get("enum")
        if "$ref" in inner:
            elem_type = inner["$ref"].rsplit("/", 1)[1]
        elif enum is not None:
            elem_type = "code"
        else:
            # Primitive variants of choice elements are written inline (effectiveDateTime: pattern + type).
            found = self._inline_primitive(name, inner)
            if found is None:  # pragma: no cover - every R4 element is a $ref, an enum or such a variant
                return None
            elem_type = found
        return ElementInfo(
            name=name,
            type=elem_type,
            is_list=is_list,
            enum=frozenset(enum) if enum is not None else None,
            choice=self._choice_group(type_name, name),
        )

    def _primitive_extensions(self, type_name: str, name: str) -> ElementInfo | None:
        """``_birthDate``: the id and extensions of the primitive element ``birthDate`` (R4 JSON §2.6.2.7, an Element
        beside the value), where a core extension of a primitive goes (patient-birthTime); None unless ``name``
        without its ``_`` is a primitive element of ``type_name``."""
        value = self.element(type_name, name[1:])
        if (
            value is None
            or not self.is_primitive(value.type)
            or "_" + value.name not in self._defs.get(type_name, {}).get("properties", {})
        ):
            return None
        return ElementInfo(name=name, type="Element", is_list=value.is_list, enum=None, choice=())

    def _inline_primitive(self, name: str, prop: dict[str, Any]) -> str | None:
        base = self._choice_base(name)
        if base is not None:
            suffix = name[len(base) :]
            candidate = suffix[0].lower() + suffix[1:]
            if self.is_primitive(candidate):
                return candidate
        pattern = prop.get("pattern")
        for def_name, definition in self._defs.items():
            if "properties" not in definition and definition.get("pattern") == pattern and pattern is not None:
                return def_name
        return None

    def _choice_group(self, type_name: str, name: str) -> tuple[str, ...]:
        base = self._choice_base(name)
        if base is None:
            return ()
        siblings = tuple(p for p in self.properties(type_name) if self._choice_base(p) == base)
        return siblings if len(siblings) > 1 else ()

    def _choice_base(self, name: str) -> str | None:
        parts = _UPPER_SPLIT.split(name)
        for i in range(1, len(parts)):
            if "".join(parts[i:]) in self._type_suffixes:
                return "".join(parts[:i])
        return None
