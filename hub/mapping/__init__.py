"""The declarative HL7 v2 → FHIR R4 mapping engine.

Templates are data in ``mappings/`` (see mappings/README.md); :meth:`Converter.load` compiles them once into
Python closures, and :meth:`Converter.convert` runs them on a tokenised message with no YAML, no hl7apy and
no fhir.resources on the way.

    converter = get_converter(settings)                    # cached per mappings directory
    bundle = converter.convert(er7.parse(text), sender_timezone="Asia/Shanghai")
    bundle = convert_bytes(raw, settings)                  # decode (MSH-18) + parse + convert
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hub.config import Settings
from hub.hl7 import charset, er7
from hub.mapping.engine import Converter

__all__ = ["Converter", "convert_bytes", "get_converter"]

_cache: dict[Path, Converter] = {}
_lock = threading.Lock()


def get_converter(settings: Settings) -> Converter:
    """The converter for ``settings.mappings_dir``, loaded on first use and kept for the process.

    Raises:
        MappingTemplateError: an invalid template (with file and line).
    """
    key = Path(settings.mappings_dir).resolve()
    found = _cache.get(key)
    if found is not None:
        return found
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = Converter.load(key)
        return found


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
    fields = charset.read_msh_fields(raw)
    repetition = fields[2][1] if len(fields) > 2 and len(fields[2]) > 1 else "~"
    msh18 = fields[18].split(repetition)[0].strip() if len(fields) > 18 else ""
    app = fields[3] if len(fields) > 3 else ""
    facility = fields[4] if len(fields) > 4 else ""
    text, _codec = charset.decode(raw, msh18, settings.charset_for(app, facility))
    message = er7.parse(text)
    return get_converter(settings).convert(message, sender_timezone=settings.timezone_for(app, facility))
