"""The search result parameters (http://hl7.org/fhir/R4/search.html#return): ``_sort``, ``_include``,
``_revinclude`` (``:iterate``), ``_elements``, ``_summary``, ``_total`` and the paging ``_cursor``, read out of a
search's parameters and checked.

What this server cannot do is :class:`Unsupported`: an error under ``Prefer: handling=strict``, skipped (and
left out of the self link) under ``handling=lenient``. A value that is wrong whatever the handling (an empty
``_sort``, a forged ``_cursor``) is :class:`~hub.errors.InvalidInput` either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hub.errors import InvalidInput
from hub.fhir.search_include import Include
from hub.fhir.search_paging import SortKey
from hub.fhir.search_params import RESOURCE_TYPES, params_for, sort_param
from hub.fhir.subsetting import Summary

MAX_SORT_KEYS = 5
MAX_INCLUDES = 10
MAX_ELEMENTS = 64
_SUMMARIES: dict[str, Summary] = {"true": "true", "text": "text", "data": "data", "count": "count", "false": "false"}
_TOTALS = ("none", "estimate", "accurate")
_ELEMENT = re.compile(r"(?:[A-Z][A-Za-z]{0,63}\.)?[a-z][A-Za-z0-9]{0,63}")
_INCLUDES = {
    "_include": (False, False),
    "_include:iterate": (False, True),
    "_include:recurse": (False, True),  # the DSTU2 name of :iterate
    "_revinclude": (True, False),
    "_revinclude:iterate": (True, True),
    "_revinclude:recurse": (True, True),
}
NAMES = frozenset({"_sort", "_elements", "_summary", "_total", "_cursor", *_INCLUDES})


class Unsupported(InvalidInput):
    """A parameter (or a value of one) this server does not support: refused when strict, ignored when lenient."""


@dataclass(frozen=True, slots=True)
class Controls:
    """The result parameters of one search.

    Attributes:
        sort: the ``_sort`` keys (empty: by id).
        includes: ``_include`` and ``_revinclude`` rules.
        elements: ``_elements`` names, or None.
        summary: ``_summary``, or None.
        total: ``_total`` (``accurate`` unless asked otherwise; ``estimate`` is answered accurately).
        cursor: the ``_cursor`` value, or None.
        applied: the pairs to repeat in the paging links (cursor aside).
    """

    sort: tuple[SortKey, ...] = ()
    includes: tuple[Include, ...] = ()
    elements: frozenset[str] | None = None
    summary: Summary | None = None
    total: str = "accurate"
    cursor: str | None = None
    applied: list[tuple[str, str]] = field(default_factory=list)


def _bad(message: str, name: str) -> InvalidInput:
    return InvalidInput(message, expression=name)


def _sort_keys(rtype: str, value: str) -> list[SortKey]:
    keys: list[SortKey] = []
    for raw in value.split(","):
        text = raw.strip()
        descending = text.startswith("-")
        name = text[1:] if descending else text
        if not name:
            raise _bad("_sort: an empty sort key", "_sort")
        param = sort_param(rtype, name)
        if param is None:
            raise Unsupported(f"_sort: {rtype} cannot be sorted by {name[:64]!r}", expression="_sort")
        if any(k.param.name == name for k in keys):
            raise _bad(f"_sort: {name} given twice", "_sort")
        keys.append(SortKey(param, descending))
    return keys


def _include(rtype: str, name: str, value: str) -> Include:
    reverse, iterate = _INCLUDES[name]
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise _bad(f"{name}: Type:parameter[:TargetType], not {value[:64]!r}", name)
    source, param_name = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if source not in RESOURCE_TYPES:
        raise Unsupported(f"{name}: unknown resource type {source[:64]!r}", expression=name)
    if target is not None and target not in RESOURCE_TYPES:
        raise Unsupported(f"{name}: unknown resource type {target[:64]!r}", expression=name)
    param = None
    if param_name != "*":
        param = params_for(source).get(param_name)
        if param is None or param.type != "reference":
            raise Unsupported(f"{name}: {source} has no reference parameter {param_name[:64]!r}", expression=name)
        if target is not None and param.targets and target not in param.targets:
            raise Unsupported(f"{name}: {source}.{param_name} does not refer to {target}", expression=name)
    rule = Include(source, param, target, iterate, reverse)
    if not iterate and not reverse and source != rtype:
        raise Unsupported(f"{name}: a search of {rtype} cannot include from {source} (use :iterate)", expression=name)
    if not iterate and reverse and not rule.may_target(rtype):
        raise Unsupported(f"{name}: {rule.value} cannot refer to a {rtype}", expression=name)
    return rule


def _elements(rtype: str, value: str) -> set[str]:
    names: set[str] = set()
    for raw in value.split(","):
        text = raw.strip()
        if not _ELEMENT.fullmatch(text):
            raise _bad(f"_elements: {text[:64]!r} is not an element name", "_elements")
        head, dot, rest = text.partition(".")
        if dot and head != rtype:
            raise _bad(f"_elements: {text[:64]!r} is not an element of {rtype}", "_elements")
        names.add(rest if dot else text)
    return names


def split_controls(
    rtype: str, params: list[tuple[str, str]], *, strict: bool
) -> tuple[Controls, list[tuple[str, str]], list[str]]:
    """Read the result parameters out of ``params``.

    Returns:
        The :class:`Controls`, the remaining (filter) parameters in order, and the names ignored (lenient).

    Raises:
        InvalidInput: a malformed result parameter; an unsupported one when ``strict``.
    """
    filters: list[tuple[str, str]] = []
    ignored: list[str] = []
    sort: list[SortKey] = []
    includes: list[Include] = []
    elements: set[str] | None = None
    single: dict[str, str] = {}
    for name, value in params:
        if name not in NAMES:
            filters.append((name, value))
            continue
        try:
            if name in ("_summary", "_total", "_cursor", "_elements"):
                if name in single:
                    raise _bad(f"{name} given twice", name)
                if name == "_summary" and value not in _SUMMARIES:
                    raise Unsupported(
                        f"_summary={value[:16]!r} is not supported ({', '.join(_SUMMARIES)})", expression=name
                    )
                if name == "_total" and value not in _TOTALS:
                    raise Unsupported(f"_total={value[:16]!r} is not supported ({', '.join(_TOTALS)})", expression=name)
                if name == "_elements":
                    elements = _elements(rtype, value)
                single[name] = value
            elif name == "_sort":
                added = _sort_keys(rtype, value)
                if len(sort) + len(added) > MAX_SORT_KEYS:
                    raise _bad(f"_sort: at most {MAX_SORT_KEYS} keys", name)
                clash = {k.param.name for k in sort} & {k.param.name for k in added}
                if clash:
                    raise _bad(f"_sort: {sorted(clash)[0]} given twice", name)
                sort.extend(added)
            else:
                if len(includes) >= MAX_INCLUDES:
                    raise _bad(f"at most {MAX_INCLUDES} _include and _revinclude values", name)
                rule = _include(rtype, name, value)
                if rule not in includes:
                    includes.append(rule)
        except Unsupported:
            if strict:
                raise
            ignored.append(name)
    if elements is not None and single.get("_summary") not in (None, "false"):
        raise _bad("_summary and _elements cannot be used together", "_elements")
    applied: list[tuple[str, str]] = []
    if sort:
        applied.append(("_sort", ",".join(k.text for k in sort)))
    applied.extend((rule.name, rule.value) for rule in includes)
    if elements is not None:
        applied.append(("_elements", ",".join(sorted(elements))))
    summary = _SUMMARIES.get(single.get("_summary", ""))
    if summary is not None:
        applied.append(("_summary", summary))
    total = single.get("_total", "accurate")
    if "_total" in single:
        applied.append(("_total", total))
    controls = Controls(
        sort=tuple(sort),
        includes=tuple(includes),
        elements=frozenset(elements) if elements is not None else None,
        summary=summary,
        total=total,
        cursor=single.get("_cursor"),
        applied=applied,
    )
    return controls, filters, ignored


__all__ = ["NAMES", "Controls", "Unsupported", "split_controls"]
