"""The declarative HL7 v2 → FHIR R4 mapping engine.

Templates are data in ``mappings/`` (see mappings/README.md); :meth:`Converter.load` compiles them once into
Python functions (the library, and each sender overlay of ``mappings/overlays/`` merged over it), and
:meth:`Converter.convert` runs them on a tokenised message with no YAML, no hl7apy and no fhir.resources on the
way.

    converter = get_converter(settings)                    # cached per mappings directory
    bundle = converter.convert(er7.parse(text), sender_timezone="Asia/Shanghai")
    bundle = convert_bytes(raw, settings)                  # decode (MSH-18) + parse + convert
    result = convert_bytes_with_report(raw, settings)      # … and the conversion report (unmapped codes …)
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

from hub.config import Settings
from hub.hl7 import charset, er7
from hub.mapping.engine import Conversion, Converter

__all__ = ["Conversion", "Converter", "convert_bytes", "convert_bytes_with_report", "get_converter"]

_cache: dict[tuple[Path, Path | None], Converter] = {}  # by resolved paths
_given: dict[tuple[Path, Path | None], Converter] = {}  # by the paths as given
_lock = threading.Lock()


def get_converter(settings: Settings, *, overlay_file: Path | None = None) -> Converter:
    """The converter for ``settings.mappings_dir`` (and its ``overlays/``), loaded on first use and kept for the
    process.

    Args:
        settings: names the mappings directory.
        overlay_file: an overlay to load besides the directory's (``hub convert --sender-overlay``).

    Raises:
        MappingTemplateError: an invalid template or overlay (with file and line).
    """
    # Resolving a path costs system calls, and this runs once per message: absolute paths as given are looked up
    # first (a relative path is resolved every time, since the working directory may change).
    given = (Path(settings.mappings_dir), Path(overlay_file) if overlay_file else None)
    found = _given.get(given)
    if found is not None:
        return found
    key = (Path(settings.mappings_dir).resolve(), Path(overlay_file).resolve() if overlay_file else None)
    with _lock:
        found = _cache.get(key)
        if found is None:
            extra = [key[1]] if key[1] is not None else None
            found = _cache[key] = Converter.load(key[0], overlay_files=extra)
            # The converter lives as long as the process: its compiled templates (tens of thousands of objects)
            # are left out of the cyclic garbage collector's full collections, which would otherwise walk them
            # all every few hundred messages (gc.freeze; what is garbage now is collected first).
            gc.collect()
            gc.freeze()
        if given[0].is_absolute() and (given[1] is None or given[1].is_absolute()):
            _given[given] = found
        return found


def decode(raw: bytes, settings: Settings) -> tuple[er7.Message, str, str]:
    """Decode a message by MSH-18 (or the sender's configured charset) and tokenise it.

    Returns:
        The message, its sending application (MSH-3) and sending facility (MSH-4) as sent.

    Raises:
        Hl7ParseError: the bytes are not a readable message in their charset.
    """
    fields = charset.read_msh_fields(raw)
    msh18 = charset.declared_charset(fields)
    app = fields[3] if len(fields) > 3 else ""
    facility = fields[4] if len(fields) > 4 else ""
    fallback = charset.sender_charset(settings, app, facility)
    text, _codec = charset.decode(raw, msh18, fallback)
    message = er7.parse(text)
    # the sender's names as decoded (新疆医院), not as read in Latin-1: its time zone is keyed on them
    return message, message.msh[3], message.msh[4]


def convert_bytes_with_report(raw: bytes, settings: Settings, *, overlay_file: Path | None = None) -> Conversion:
    """Decode, tokenise and convert a message, with the conversion report.

    Args:
        raw: the message as received.
        settings: charsets and time zones per sender, and the mappings directory.
        overlay_file: a sender overlay to apply whoever the sender is (else the overlay naming the sender).

    Returns:
        The Bundle, the report (unmapped local codes, flagged identifiers …) and the overlay used.

    Raises:
        Hl7ParseError: the bytes are not a readable message in their charset.
        ConversionError: the message cannot be converted.
        MappingTemplateError: the mappings directory or the overlay has an invalid template.
    """
    message, app, facility = decode(raw, settings)
    converter = get_converter(settings, overlay_file=overlay_file)
    overlay = None
    if overlay_file is not None:
        from hub.mapping.library import read_overlay

        overlay = read_overlay(Path(overlay_file)).model.overlay
    return converter.convert_with_report(
        message,
        sender_timezone=settings.timezone_for(app, facility),
        default_timezone=settings.default_timezone,
        overlay=overlay,
        strict=settings.reject_invalid_values,
    )


def convert_bytes(raw: bytes, settings: Settings) -> dict[str, Any]:
    """Decode a message by MSH-18 (or the sender's configured charset), tokenise and convert it.

    Args:
        raw: the message as received.
        settings: charsets and time zones per sender, and the mappings directory.

    Returns:
        The FHIR R4 transaction Bundle.

    Raises:
        Hl7ParseError: the bytes are not a readable message in their charset.
        ConversionError: the message cannot be converted.
        MappingTemplateError: the mappings directory has an invalid template.
    """
    return convert_bytes_with_report(raw, settings).bundle
