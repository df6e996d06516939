"""Where the shared development material lives (the HL7 v2 corpus, the official FHIR R4 schema).

It sits beside the repository as ``../shared`` in a workplace checkout; a checkout elsewhere (a CI clone, a
container) names it with ``HUB_TEST_SHARED_DIR``, and ``/work/shared`` is the workplace's fixed location.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def _shared() -> Path:
    candidates = [os.environ.get("HUB_TEST_SHARED_DIR", ""), str(_REPO.parent / "shared"), "/work/shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "corpus" / "hl7v2").is_dir():
            return Path(candidate)
    return _REPO.parent / "shared"


SHARED = _shared()
CORPUS = SHARED / "corpus" / "hl7v2"
FHIR_SCHEMA = SHARED / "fhir" / "fhir.r4.schema.json"
