"""A message means the same whatever encoding characters and segment terminators its sender chose, and whether or
not it writes the separators of empty trailing fields and components.

MSH-1 and MSH-2 let a sender pick any field, component, repetition, escape, subcomponent (and, from v2.7,
truncation) character, and real interfaces end segments with CR, CRLF or LF. Every corpus message is converted
as it is and again re-encoded with other delimiters (characters the message does not contain, so the
re-encoding changes nothing else) and with other segment terminators: the Bundles must be the same, resource
ids included (the same patient must get the same id from every sender), or both refused at the same place.

Senders differ in what they write of what is empty: ``|BROS^MARIO^^^^|`` or ``|BROS^MARIO|``, ``|^^^|`` or
``||``, a segment ending in ``|||`` or not. The standard makes these the same value (a field of empty components
is not valued), so the Bundles of the message with every trailing empty part cut, and with extra empty fields
appended to each segment, must be the same as well.

Where a sender leaves a delimiter unescaped inside a text the standard gives no subcomponents (``A&E`` in a
coded value), the hub keeps the character as the sender wrote it; in the re-encoded message that character is
the new delimiter, so the comparison maps the output's strings back before comparing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.errors import ConversionError
from hub.fhir import jsoncodec
from hub.hl7 import er7
from hub.mapping import Converter
from tests.support.paths import CORPUS

# Printable ASCII the hub itself never writes into a Bundle as a whole ('%' is, in percent-encoded URIs).
_CANDIDATES = "!#$*@;`{}?"

# Our own messages, with Chinese text, a subcomponent and an escape, besides the corpus.
_OWN = {
    "own-adt-a01": (
        "MSH|^~\\&|HIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||ADT^A01^ADT_A01|M1|P|2.5.1"
        "||||||UNICODE UTF-8\r"
        "EVN|A01|20260315083000\r"
        "PID|1||MRN0001^^^SZRMYY&2.16.156.10011.1.5.1&ISO^MR~440305198001011235^^^^NNCHN||张三^^^^^^L||19800101|M|||"
        "深南大道1号\\T\\2栋^^深圳市^广东省^518000^CHN^H||13800138000^PRN^CP\r"
        "PV1|1|I|内科^301^2^SZRMYY||||D001^王^五|||||||||||V0001^^^SZRMYY^VN\r"
    ),
    "own-oru-r01": (
        "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|L1|P|2.5.1||||||UNICODE UTF-8\r"
        "PID|1||MRN0001^^^SZRMYY^MR||李^四||19750505|F\r"
        "OBR|1|P100^HIS|F200^LIS|24323-8^Comprehensive metabolic panel^LN|||20260315080000\r"
        "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L^mmol/L^UCUM|3.9-6.1|N|||F|||20260315083000\r"
        "OBX|2|SN|2160-0^Creatinine^LN||>^132|umol/L^umol/L^UCUM|45-84|H|||F\r"
        "OBX|3|TX|8251-1^Note^LN||复查\\.br\\建议~第二行||||||F\r"
    ),
}


def _corpus() -> dict[str, str]:
    if not CORPUS.is_dir():
        return {}
    paths = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".hl7", ".txt") and not p.name.startswith("LICENSE"))
    return {f"{p.parent.name[:9]}/{p.name}": Path(p).read_bytes().decode("utf-8-sig") for p in paths}


MESSAGES = {**_corpus(), **_OWN}


def _normalised(text: str) -> str:
    return text.replace("\r\n", "\r").replace("\n", "\r")


def _reencoded(text: str) -> tuple[str, dict[str, str]] | None:
    """The message with every encoding character replaced by one it does not contain, and the way back."""
    d = er7.parse(text).delimiters
    olds = [d.field, d.component, d.repetition, d.escape, d.subcomponent]
    msh2 = text[4:].split(d.field, 1)[0]
    if len(msh2) > 4:  # v2.7+: the truncation character
        olds.append(msh2[4])
    free = [ch for ch in _CANDIDATES if ch not in text]
    if len(free) < len(olds):
        return None
    table = dict(zip(olds, free, strict=False))
    return "".join(table.get(ch, ch) for ch in text), {new: old for old, new in table.items()}


def _trimmed(text: str) -> str:
    """The message with every trailing empty repetition, component and subcomponent, and field cut."""
    d = er7.parse(text).delimiters
    out = []
    for line in text.split("\r"):
        if not line or line[:3] in ("MSH", "BHS", "FHS"):
            out.append(line.rstrip(d.field) if line else line)
            continue
        fields = []
        for value in line.split(d.field):
            reps = []
            for rep in value.split(d.repetition):
                comps = [comp.rstrip(d.subcomponent) for comp in rep.split(d.component)]
                while len(comps) > 1 and not comps[-1]:
                    comps.pop()
                reps.append(d.component.join(comps))
            while len(reps) > 1 and not reps[-1]:
                reps.pop()
            fields.append(d.repetition.join(reps))
        while len(fields) > 1 and not fields[-1]:
            fields.pop()
        out.append(d.field.join(fields))
    return "\r".join(out)


def _padded(text: str) -> str:
    """The message with three empty fields appended to every segment but the header."""
    sep = er7.parse(text).delimiters.field
    return "\r".join(line + sep * 3 if line and line[:3] != "MSH" else line for line in text.split("\r"))


def _unmapped(value: Any, back: dict[str, str]) -> Any:
    if isinstance(value, str):
        return "".join(back.get(ch, ch) for ch in value)
    if isinstance(value, list):
        return [_unmapped(v, back) for v in value]
    if isinstance(value, dict):
        return {_unmapped(k, back): _unmapped(v, back) for k, v in value.items()}
    return value


def _outcome(converter: Converter, text: str, back: dict[str, str] | None = None) -> Any:
    try:
        bundle = converter.convert(er7.parse(text))
    except ConversionError as exc:
        return ("refused", exc.location, exc.hl7_code)
    if back:
        bundle = _unmapped(bundle, back)
    return jsoncodec.loads(jsoncodec.dumps(bundle, option=orjson.OPT_SORT_KEYS))


def test_there_is_something_to_compare():
    assert len(MESSAGES) >= 100, f"corpus not found at {CORPUS}"


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_other_delimiters_and_terminators_give_the_same_bundle(converter, name):
    text = _normalised(MESSAGES[name])
    expected = _outcome(converter, text)
    assert _outcome(converter, text.replace("\r", "\r\n")) == expected, "CRLF terminators"
    assert _outcome(converter, text.replace("\r", "\n")) == expected, "LF terminators"
    reencoded = _reencoded(text)
    assert reencoded is not None, "no free characters to re-encode with"
    other, back = reencoded
    assert other != text
    assert _outcome(converter, other, back) == expected, "other encoding characters"


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_empty_trailing_parts_written_or_not_give_the_same_bundle(converter, name):
    text = _normalised(MESSAGES[name])
    expected = _outcome(converter, text)
    assert _outcome(converter, _trimmed(text)) == expected, "trailing empty parts cut"
    assert _outcome(converter, _padded(text)) == expected, "empty fields appended"
