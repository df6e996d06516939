"""The romanized form of a name in characters, written family name first (XPN.8 A or P beside I).

A Chinese sender may send a person's name twice in one field: in characters, XPN.8 ``I`` (ideographic), and in
pinyin, XPN.8 ``A`` (alphabetic) or ``P`` (phonetic): ``张三^^^^^^L^I~ZHANG^SAN^^^^^L^A``. Chinese names are written
family name first in pinyin too (GB/T 28039-2011, 中国人名汉语拼音字母拼写规则: ``Zhang San``), so the text of the
romanized name is ``ZHANG SAN``, not the given-name-first ``SAN ZHANG`` of a Western name. Only beside a name in
characters (the core extension iso21090-EN-representation ``IDE`` on a name with CJK ideographs, in the same list):
a name in letters alone says nothing of its origin (a foreigner's name from a Chinese HIS is given name first), and
the sender's own assembly order (XPN.11, extension humanname-assembly-order) always wins.
"""

from __future__ import annotations

from typing import Any

from hub.mapping.builtins import ASSEMBLY_ORDER, human_name_text, is_cjk

_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"


def _representation(name: dict[str, Any]) -> str | None:
    for extension in name.get("extension") or ():
        if extension.get("url") == _REPRESENTATION:
            code = extension.get("valueCode")
            return code if isinstance(code, str) else None
    return None


def _in_characters(name: dict[str, Any]) -> bool:
    return _representation(name) == "IDE" and is_cjk(str(name.get("text") or name.get("family") or ""))


def family_first(resource: dict[str, Any]) -> None:
    """Write the text of each romanized name (``ABC``, ``SYL``) family name first when the resource's names hold
    one in characters (``IDE``), unless the sender said an assembly order."""
    names = resource.get("name")
    if type(names) is not list or len(names) < 2 or not any(_in_characters(n) for n in names if type(n) is dict):
        return
    for name in names:
        if type(name) is not dict or _representation(name) not in ("ABC", "SYL"):
            continue
        if any(e.get("url") == ASSEMBLY_ORDER for e in name.get("extension") or ()):
            continue
        text = human_name_text(name, family_first=True)
        if text:
            name["text"] = text
