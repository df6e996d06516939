"""YAML reading that remembers where each mapping and list item came from, for errors with file and line.

Templates are loaded once at start-up, so the cost of keeping line numbers does not matter; what matters is
that a typo in a template is reported as ``mappings/resource/Patient.yaml:42: …`` instead of a bare
validation error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from hub.errors import MappingTemplateError


class LineDict(dict[str, Any]):
    """A dict that knows the line it started on and the line of each key."""

    line: int = 0
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class LineList(list[Any]):
    """A list that knows the line it started on and the line of each item."""

    line: int = 0
    item_lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []


# libyaml's parser when PyYAML was built with it (ten times faster: the library is read at every start), the pure
# Python one otherwise; both give node marks (lines), and the constructors and resolvers below are Python either way.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) or key is None:
            raise MappingTemplateError("mapping keys must be plain scalars", line=key_node.start_mark.line + 1)
        key = str(key) if not isinstance(key, str) else key
        if key in result:
            raise MappingTemplateError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList()
    result.line = node.start_mark.line + 1
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.item_lines.append(child.start_mark.line + 1)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
# YAML 1.1 reads ``N``, ``Y``, ``no`` and ``off`` as booleans, ``01`` as an octal number and ``2.5`` as a
# float; HL7 codes and versions are full of such strings. Here every scalar is a string, except ``true`` and
# ``false`` (booleans) and an empty value or ``null`` (None): a code never changes its spelling on the way in.
_KEEP = ("tag:yaml.org,2002:null",)
for _first, _resolvers in list(_Loader.yaml_implicit_resolvers.items()):
    _Loader.yaml_implicit_resolvers[_first] = [(tag, regexp) for tag, regexp in _resolvers if tag in _KEEP]
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


def load_yaml(path: Path) -> Any:
    """Read one template file.

    Raises:
        MappingTemplateError: the file cannot be read or is not valid YAML (with the line of the problem).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingTemplateError(f"cannot read: {exc}", file=str(path)) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except MappingTemplateError as exc:
        raise MappingTemplateError(exc.message.split(": ", 1)[-1], file=str(path), line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise MappingTemplateError(f"invalid YAML: {exc.problem or exc}", file=str(path), line=line) from None
    except yaml.YAMLError as exc:
        raise MappingTemplateError(f"invalid YAML: {exc}", file=str(path)) from None


def line_of(data: Any, loc: tuple[int | str, ...]) -> int | None:
    """The line of the item at ``loc`` (a pydantic error location) inside loaded YAML, as deep as it goes."""
    line: int | None = getattr(data, "line", None)
    node = data
    for step in loc:
        if isinstance(node, LineDict) and isinstance(step, str) and step in node:
            line = node.key_lines.get(step, line)
            node = node[step]
        elif isinstance(node, LineList) and isinstance(step, int) and 0 <= step < len(node):
            line = node.item_lines[step]
            node = node[step]
        else:
            break
    return line
