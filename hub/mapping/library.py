"""Reading ``mappings/`` into checked models, and merging a hospital's overlay over them.

The *library* is every template of a mappings directory (``message/``, ``resource/``, ``datatype/``,
``terminology/``), each read and checked for shape with the file it came from. An *overlay*
(``overlays/<name>.yaml``) is one sender's variant: table entries added or replaced, datatype templates
replaced, element rules put before a resource template's own, resource rules added to a message template.
:func:`merge` makes the library as that sender sees it; :mod:`hub.mapping.engine` compiles each once.

Errors name the file and line of the template (or of the overlay, for what the overlay brought).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hub.errors import MappingTemplateError
from hub.mapping.templates import (
    DatatypeTemplate,
    MessageTemplate,
    NotCarriedList,
    OverlayTemplate,
    ResourceTemplate,
    TablePatch,
    TemplateModel,
    TerminologyTable,
)
from hub.mapping.yamlload import line_of, load_yaml

M = TypeVar("M", bound=BaseModel)

FOLDERS = ("message", "resource", "datatype", "terminology")
OVERLAY_FOLDER = "overlays"
# the fields no message carries over on purpose (set ids, the header's delimiters and routing …): optional
NOT_CARRIED_FILE = "not_carried.yaml"


def validate(model: type[M], data: Any, path: Path) -> M:
    """``model`` from YAML data, or a MappingTemplateError with the file and the line of the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        where = ".".join(str(p) for p in loc)
        message = first["msg"].removeprefix("Value error, ")
        raise MappingTemplateError(
            f"{where}: {message}" if where else message, file=str(path), line=line_of(data, loc)
        ) from None


def _check_name(name: str, stem: str, path: Path, model: TemplateModel, kind: str) -> None:
    if name != stem:
        raise MappingTemplateError(
            f"{kind} {name!r} must be in a file named {name}.yaml", file=str(path), line=model.line
        )


@dataclass(slots=True)
class Library:
    """The templates of one mappings directory (or of the library with an overlay merged in)."""

    directory: Path
    tables: dict[str, tuple[TerminologyTable, Path]] = field(default_factory=dict)
    datatypes: dict[str, tuple[DatatypeTemplate, Path]] = field(default_factory=dict)
    resources: dict[str, tuple[ResourceTemplate, Path]] = field(default_factory=dict)
    messages: dict[str, tuple[MessageTemplate, Any, Path]] = field(default_factory=dict)
    not_carried: dict[str, str] = field(default_factory=dict)  # not_carried.yaml: field → why


@dataclass(slots=True)
class Overlay:
    model: OverlayTemplate
    path: Path
    data: Any


def read_library(directory: Path) -> Library:
    """Read and check (for shape) every template of a mappings directory.

    Raises:
        MappingTemplateError: a missing directory, unreadable YAML, or an invalid template (file and line).
    """
    if not directory.is_dir():
        raise MappingTemplateError("the mappings directory does not exist", file=str(directory))
    lib = Library(directory)
    for path in sorted((directory / "terminology").glob("*.yaml")):
        table = validate(TerminologyTable, load_yaml(path), path)
        _check_name(table.table, path.stem, path, table, "table")
        lib.tables[table.table] = (table, path)
    for path in sorted((directory / "datatype").glob("*.yaml")):
        datatype = validate(DatatypeTemplate, load_yaml(path), path)
        _check_name(datatype.datatype, path.stem, path, datatype, "datatype")
        lib.datatypes[datatype.datatype] = (datatype, path)
    for path in sorted((directory / "resource").glob("*.yaml")):
        lib.resources[path.stem] = (validate(ResourceTemplate, load_yaml(path), path), path)
    for path in sorted((directory / "message").glob("*.yaml")):
        data = load_yaml(path)
        message = validate(MessageTemplate, data, path)
        _check_name(message.message, path.stem, path, message, "message")
        lib.messages[message.message] = (message, data, path)
    path = directory / NOT_CARRIED_FILE
    if path.is_file():
        lib.not_carried = dict(validate(NotCarriedList, load_yaml(path), path).not_carried)
    return lib


def read_overlay(path: Path) -> Overlay:
    """Read and check (for shape) one overlay file.

    Raises:
        MappingTemplateError: unreadable YAML or an invalid overlay (file and line).
    """
    data = load_yaml(path)
    model = validate(OverlayTemplate, data, path)
    _check_name(model.overlay, path.stem, path, model, "overlay")
    return Overlay(model, path, data)


def overlay_files(directory: Path) -> list[Path]:
    return sorted((directory / OVERLAY_FOLDER).glob("*.yaml"))


def merge(lib: Library, overlay: Overlay) -> Library:
    """The library as the overlay's senders see it (tables and datatypes merged; resource and message patches
    are applied when compiling, so that their rules keep the overlay's file and lines).

    Raises:
        MappingTemplateError: a patch that names nothing the library has, or a merged table that is invalid.
    """
    model, path = overlay.model, overlay.path
    merged = Library(
        lib.directory,
        dict(lib.tables),
        dict(lib.datatypes),
        dict(lib.resources),
        dict(lib.messages),
        {**lib.not_carried, **model.not_carried},
    )
    for name, patch in model.tables.items():
        line = line_of(overlay.data, ("tables", name))
        merged.tables[name] = (_merge_table(name, lib.tables.get(name), patch, path, line), path)
    for name, datatype in model.datatypes.items():
        merged.datatypes[name] = (datatype, path)
    for name, rpatch in model.resources.items():
        if name not in lib.resources:
            raise MappingTemplateError(
                f"resources.{name}: no resource template {name!r} to add rules to",
                file=str(path),
                line=line_of(overlay.data, ("resources", name)) or rpatch.line,
            )
    for name, mpatch in model.messages.items():
        if name not in lib.messages:
            raise MappingTemplateError(
                f"messages.{name}: no message template {name!r} to change",
                file=str(path),
                line=line_of(overlay.data, ("messages", name)) or mpatch.line,
            )
    return merged


def _merge_table(
    name: str, base: tuple[TerminologyTable, Path] | None, patch: TablePatch, path: Path, line: int | None
) -> TerminologyTable:
    given = patch.model_dump(exclude_unset=True, exclude={"codes", "patterns"})
    if base is None:
        data: dict[str, Any] = {"table": name, **given, "codes": patch.codes, "patterns": patch.patterns}
    else:
        table = base[0]
        data = table.model_dump(exclude={"codes", "patterns"})
        data.update(given)
        data["codes"] = {**table.codes, **patch.codes}
        data["patterns"] = [*patch.patterns, *table.patterns]
    try:
        return TerminologyTable.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise MappingTemplateError(
            f"tables.{name}: {where + ': ' if where else ''}{message}", file=str(path), line=line or patch.line
        ) from None
