"""A small path language over FHIR JSON, compiled once: the extraction paths of the search parameters.

A path is ``Type.element.element…`` over the JSON keys of a resource, with three additions:

* ``name[x]``: a choice element, whatever its type (``Observation.effective[x]`` reads ``effectiveDateTime``,
  ``effectivePeriod``, …);
* ``where(key='value')``: keep only the elements whose ``key`` equals ``value``
  (``Patient.telecom.where(system='phone')``);
* ``a | b``: the union of several paths.

The leading type name is the resource type (``Resource`` for paths common to every type). Arrays are
flattened at every step, as FHIRPath does. This covers the R4 search parameter expressions the hub
indexes with a loop over dicts per step, with no expression tree to interpret at write time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_STEP = re.compile(r"where\((?P<key>[A-Za-z]+)='(?P<value>[^']*)'\)|(?P<name>[A-Za-z][A-Za-z0-9_]*)(?P<choice>\[x\])?")


@dataclass(frozen=True, slots=True)
class Step:
    name: str = ""
    choice: bool = False
    where: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Path:
    """One compiled path (without its leading type name)."""

    text: str
    steps: tuple[Step, ...]

    def evaluate(self, resource: dict[str, Any]) -> Iterator[tuple[Any, str | None]]:
        """Every value the path reaches, with the type suffix of a choice element (``Period``) if any."""
        nodes: list[tuple[Any, str | None]] = [(resource, None)]
        for step in self.steps:
            out: list[tuple[Any, str | None]] = []
            for node, suffix in nodes:
                if not isinstance(node, dict):
                    continue
                if step.where is not None:
                    key, value = step.where
                    if node.get(key) == value:
                        out.append((node, suffix))
                    continue
                if step.choice:
                    n = len(step.name)
                    for k, v in node.items():
                        if len(k) > n and k.startswith(step.name) and k[n].isupper():
                            _extend(out, v, k[n:])
                else:
                    v = node.get(step.name)
                    if v is not None:
                        _extend(out, v, None)
            nodes = out
            if not nodes:
                return
        yield from nodes


def _extend(out: list[tuple[Any, str | None]], value: Any, suffix: str | None) -> None:
    if isinstance(value, list):
        out.extend((v, suffix) for v in value if v is not None)
    else:
        out.append((value, suffix))


def compile_path(expression: str) -> tuple[Path, ...]:
    """Compile ``expression`` (see the module docstring).

    Raises:
        ValueError: the expression is not in the language.
    """
    paths: list[Path] = []
    for part in expression.split("|"):
        text = part.strip()
        head, _, rest = text.partition(".")
        if not head or not head[0].isupper() or not rest:
            raise ValueError(f"a path starts with a type name and has at least one element: {text!r}")
        steps: list[Step] = []
        pos = 0
        while pos < len(rest):
            m = _STEP.match(rest, pos)
            if m is None:
                raise ValueError(f"cannot read {rest[pos:]!r} in {text!r}")
            if m["key"]:
                steps.append(Step(where=(m["key"], m["value"])))
            else:
                steps.append(Step(name=m["name"], choice=bool(m["choice"])))
            pos = m.end()
            if pos < len(rest):
                if rest[pos] != ".":
                    raise ValueError(f"expected '.' at {rest[pos:]!r} in {text!r}")
                pos += 1
        paths.append(Path(text, tuple(steps)))
    return tuple(paths)
