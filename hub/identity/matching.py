"""Patient matching: a profile of the identifying facts of a Patient, blocking keys, and a score for a pair.

The score follows Fellegi and Sunter: each compared field adds log2(m/u) when it agrees and log2((1-m)/(1-u))
when it disagrees, where ``m`` is the chance that the field agrees for the same person and ``u`` the chance that
it agrees for two different people found in the same block; a missing field adds nothing. The sum ``W`` is
turned into a probability-like score ``1 / (1 + 2 ** (OFFSET - W))``. The resident identity card number is
decisive both ways: the same checksum-valid number is *certain*, two different valid numbers are
*certainly-not*; everything else is evidence to be reviewed by a person, never a link.

Chinese names: family name first and no space (``张三``), pinyin in either order (``Zhang San``, ``San ZHANG``,
``zhangsan``), a middle dot in minority and foreign names (``买买提·艾力``). Names are compared by their
characters, then by toneless pinyin (so ``张三`` and ``Zhang San`` agree phonetically, and a homophone typo such
as ``章三`` still counts for something), then by Jaro-Winkler similarity of the pinyin.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pypinyin import Style, lazy_pinyin, pinyin

from hub.identity import resident_id

Grade = Literal["certain", "probable", "possible", "certainly-not"]

# Score thresholds (0..1). A pair at or above REVIEW_THRESHOLD becomes a review Task; $match lists pairs at
# or above MATCH_MINIMUM; PROBABLE is where the $match grade changes from possible to probable.
REVIEW_THRESHOLD = 0.5
MATCH_MINIMUM = 0.3
PROBABLE = 0.8
# W at which the score is one half: about what a full name, birth date and sex agreeing add up to, less the
# chance that two people share them in a city of millions.
OFFSET = 20.0


def _agree(m: float, u: float) -> float:
    return math.log2(m / u)


def _disagree(m: float, u: float) -> float:
    return math.log2((1 - m) / (1 - u))


# (weight when agreeing, weight when disagreeing) per field; partial agreements have their own weight.
W_NAME_EXACT = _agree(0.90, 0.001)  # ≈ +9.8
W_NAME_PHONETIC = 6.0  # same pinyin, different or differently written characters
W_NAME_SIMILAR = 3.0  # Jaro-Winkler ≥ NAME_SIMILAR on the pinyin
W_NAME_DIFFERENT = _disagree(0.90, 0.001)  # ≈ −3.3
W_BIRTH_EXACT = _agree(0.97, 0.00005)  # ≈ +14.2 (one day among ~55 years)
W_BIRTH_PARTIAL = 4.0  # one digit off, two digits transposed, or day and month swapped
W_BIRTH_DIFFERENT = _disagree(0.97, 0.00005)  # ≈ −5.1
W_SEX_AGREE = _agree(0.98, 0.5)  # ≈ +1.0
W_SEX_DIFFERENT = _disagree(0.98, 0.5)  # ≈ −4.6
W_PHONE_AGREE = _agree(0.6, 0.000001)  # ≈ +19.2: a mobile number is nearly personal
W_PHONE_DIFFERENT = _disagree(0.6, 0.000001)  # ≈ −1.3: people change numbers
W_ADDRESS_AGREE = _agree(0.7, 0.01)  # ≈ +6.1
W_ADDRESS_DIFFERENT = _disagree(0.7, 0.01)  # ≈ −1.7
W_ID_LEGACY = 20.0  # a 15-digit number that converts to the other's 18-digit number
W_RESIDENT_ID = 64.0  # reported for a shared (or conflicting) checksum-valid resident ID; decisive, not summed
W_ID_UNVERIFIED = 12.0  # the same identity number string that fails its check on both sides

NAME_SIMILAR = 0.92
ADDRESS_SIMILAR = 0.6
ADDRESS_DIFFERENT = 0.25

_NAME_DROP = re.compile(r"[\s·•・\.\-_,，'’`\"()（）]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_ONLY = re.compile(r"[^a-z]")
_ADDRESS_DROP = re.compile(r"[\s,，。\.#\-—/、()（）]+")


@dataclass(frozen=True, slots=True)
class NameForms:
    """One person's name in comparable forms."""

    exact: frozenset[str]  # cleaned spellings: characters or latin letters, in the orders the record allows
    phonetic: frozenset[str]  # toneless pinyin or latin letters, the same orders


@dataclass(frozen=True, slots=True)
class Profile:
    """The identifying facts of one Patient, normalised for matching (no resource needed afterwards)."""

    resident_ids: frozenset[str] = frozenset()  # checksum-valid 18-character numbers
    other_ids: frozenset[str] = frozenset()  # legacy numbers converted to 18 characters, unverified numbers
    names: NameForms = NameForms(frozenset(), frozenset())
    birth_date: str | None = None  # YYYY-MM-DD
    sex: str | None = None  # male | female
    phones: frozenset[str] = frozenset()
    addresses: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "rid": sorted(self.resident_ids),
            "oid": sorted(self.other_ids),
            "nx": sorted(self.names.exact),
            "np": sorted(self.names.phonetic),
            "bd": self.birth_date,
            "sx": self.sex,
            "ph": sorted(self.phones),
            "ad": list(self.addresses),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        return cls(
            resident_ids=frozenset(data.get("rid") or ()),
            other_ids=frozenset(data.get("oid") or ()),
            names=NameForms(frozenset(data.get("nx") or ()), frozenset(data.get("np") or ())),
            birth_date=data.get("bd"),
            sex=data.get("sx"),
            phones=frozenset(data.get("ph") or ()),
            addresses=tuple(data.get("ad") or ()),
        )


@dataclass(frozen=True, slots=True)
class Evidence:
    field: str  # resident-id | name | birthDate | gender | phone | address | identifier
    outcome: str  # agree | phonetic | similar | partial | disagree | legacy | unverified
    weight: float


@dataclass(frozen=True, slots=True)
class Match:
    """The comparison of two profiles."""

    score: float  # 0..1
    grade: Grade | None  # None below MATCH_MINIMUM
    evidence: tuple[Evidence, ...] = field(default=())

    @property
    def reviewable(self) -> bool:
        return self.grade in ("probable", "possible") and self.score >= REVIEW_THRESHOLD


# -- profile -------------------------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    """A JSON array element as a list; anything else (malformed input) as an empty one."""
    return value if isinstance(value, list) else []


def _clean_name(value: str) -> str:
    return _NAME_DROP.sub("", unicodedata.normalize("NFKC", value)).lower()


def _to_pinyin(text: str) -> list[str]:
    """Toneless pinyin spellings of ``text``; the surname's other readings too (单 dan/shan, 曾 ceng/zeng)."""
    if not _HAN.search(text):
        return [_LATIN_ONLY.sub("", text.replace("ü", "v").replace("u:", "v"))]
    rest = "".join(lazy_pinyin(text[1:], style=Style.NORMAL, v_to_u=False, errors="ignore"))
    first = pinyin(text[0], style=Style.NORMAL, heteronym=True, v_to_u=False, errors="ignore")
    readings = first[0][:4] if first and first[0] else [""]
    return [_LATIN_ONLY.sub("", r + rest) for r in readings]


def _name_spellings(name: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    text = name.get("text")
    raw_family = name.get("family")
    family = raw_family if isinstance(raw_family, str) else ""
    given_list = [g for g in as_list(name.get("given")) if isinstance(g, str)]
    given = "".join(given_list)
    if family or given:
        out.append(_clean_name(family + given))  # Chinese order, and pinyin written family first
        if family and given and not _HAN.search(family + given):
            out.append(_clean_name(given + family))  # western order: San Zhang
    if isinstance(text, str) and text.strip():
        out.append(_clean_name(text))
        words = text.split()
        if len(words) > 1 and not _HAN.search(text):
            out.append(_clean_name("".join(reversed(words))))
    return [s for s in dict.fromkeys(out) if s]


def name_forms(names: Iterable[Mapping[str, Any]]) -> NameForms:
    """Comparable forms of a Patient's ``name`` list (every HumanName, official or not)."""
    exact: set[str] = set()
    phonetic: set[str] = set()
    for name in names:
        if not isinstance(name, Mapping):
            continue
        for spelling in _name_spellings(name):
            exact.add(spelling)
            phonetic.update(p for p in _to_pinyin(spelling) if p)
    return NameForms(frozenset(exact), frozenset(phonetic))


# a mainland mobile number: 11 digits, 1 then 3–9 (a landline's national number never starts so: Beijing's 10 is an
# area code, and 10 digits with its number)
_MOBILE = re.compile(r"1[3-9]\d{9}")


def normalize_phone(value: str) -> str | None:
    """The digits of a phone number in China's domestic form: the country code 86 (``+86``, ``0086``, or before a
    mobile number) taken off, and a landline's trunk prefix 0 put back before its area code (the international
    form leaves it out: ``+86 755 88881234`` is ``0755 88881234``; a mobile number has none). None for something
    that cannot identify anyone."""
    text = unicodedata.normalize("NFKC", value).strip()
    digits = re.sub(r"\D", "", text)
    national = None
    if digits.startswith("0086"):
        national = digits[4:]
    elif digits.startswith("86") and (text.startswith("+") or len(digits) == 13):
        national = digits[2:]
    if national is not None:
        digits = national if national.startswith("0") or _MOBILE.fullmatch(national) else "0" + national
    if len(digits) < 7 or len(set(digits)) <= 2:
        return None
    return digits


def _address_text(address: Mapping[str, Any]) -> str:
    parts: list[str] = []
    text = address.get("text")
    if isinstance(text, str) and text.strip():
        parts.append(text)
    else:
        for key in ("state", "city", "district"):
            if isinstance(address.get(key), str):
                parts.append(address[key])
        parts.extend(x for x in as_list(address.get("line")) if isinstance(x, str))
    return _ADDRESS_DROP.sub("", unicodedata.normalize("NFKC", "".join(parts))).lower()


def profile_of(patient: Mapping[str, Any], *, today: date | None = None) -> Profile:
    """The matching profile of a Patient resource (a dict)."""
    rids: set[str] = set()
    others: set[str] = set()
    for ident in as_list(patient.get("identifier")):
        if not resident_id.is_resident_id_identifier(ident):
            continue
        value = ident.get("value")
        if not isinstance(value, str) or not value.strip():
            continue
        parsed = resident_id.parse(value, today=today)
        if parsed is not None:
            rids.add(parsed.value)
            continue
        legacy = resident_id.from_legacy(value, today=today)
        others.add(legacy if legacy is not None else resident_id.normalize(value))
    birth = patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else None
    sex = patient.get("gender") if patient.get("gender") in ("male", "female") else None
    if rids and len(rids) == 1:
        # The number states birth date and sex; use them where the record is silent.
        parsed = resident_id.parse(next(iter(rids)), today=today)
        if parsed is not None:
            birth = birth or parsed.birth_date.isoformat()
            sex = sex or parsed.sex
    phones = {
        p
        for t in as_list(patient.get("telecom"))
        if isinstance(t, Mapping) and t.get("system") in (None, "phone", "sms") and isinstance(t.get("value"), str)
        for p in [normalize_phone(t["value"])]
        if p
    }
    texts = (_address_text(x) for x in as_list(patient.get("address")) if isinstance(x, Mapping))
    addresses = tuple(dict.fromkeys(a for a in texts if a))
    return Profile(
        resident_ids=frozenset(rids),
        other_ids=frozenset(others - rids),
        names=name_forms(as_list(patient.get("name"))),
        birth_date=birth[:10] if birth and len(birth) >= 10 else None,
        sex=sex,
        phones=frozenset(phones),
        addresses=addresses,
    )


# -- blocking keys -------------------------------------------------------------------------------------------

KeyKind = Literal["rid", "idn", "nbd", "bdi", "tel"]


def blocking_keys(profile: Profile) -> set[tuple[KeyKind, str]]:
    """The keys under which a profile is indexed; candidates are profiles sharing at least one key.

    rid: a checksum-valid resident ID (the strong link); idn: any identity number (valid, legacy converted,
    unverified); nbd: birth date + pinyin name; bdi: birth date + the pinyin initial of the name (catches a typo
    in the given name); tel: a phone number.
    """
    keys: set[tuple[KeyKind, str]] = set()
    for rid in profile.resident_ids:
        keys.add(("rid", rid))
        keys.add(("idn", rid))
    for other in profile.other_ids:
        keys.add(("idn", other))
    if profile.birth_date:
        for p in profile.names.phonetic:
            keys.add(("nbd", f"{profile.birth_date}|{p}"[:128]))
            keys.add(("bdi", f"{profile.birth_date}|{p[:1]}"))
    for phone in profile.phones:
        keys.add(("tel", phone))
    return keys


# -- comparison ----------------------------------------------------------------------------------------------


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity (prefix scale 0.1, prefix up to 4)."""
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(max(la, lb) // 2 - 1, 0)
    matched_b = [False] * lb
    a_matches: list[str] = []
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(lb, i + window + 1)):
            if not matched_b[j] and b[j] == ch:
                matched_b[j] = True
                a_matches.append(ch)
                break
    m = len(a_matches)
    if not m:
        return 0.0
    b_matches = [b[j] for j in range(lb) if matched_b[j]]
    transpositions = sum(x != y for x, y in zip(a_matches, b_matches, strict=True)) / 2
    jaro = (m / la + m / lb + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)} if len(text) > 1 else {text}


def _dice(a: str, b: str) -> float:
    x, y = _bigrams(a), _bigrams(b)
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else 0.0


def _birth_partial(a: str, b: str) -> bool:
    da, db = a.replace("-", ""), b.replace("-", "")
    if len(da) != 8 or len(db) != 8:
        return False
    diffs = [i for i in range(8) if da[i] != db[i]]
    if len(diffs) == 1:
        return True
    if len(diffs) == 2 and diffs[1] == diffs[0] + 1 and da[diffs[0]] == db[diffs[1]] and da[diffs[1]] == db[diffs[0]]:
        return True
    return da[:4] == db[:4] and da[4:6] == db[6:8] and da[6:8] == db[4:6]


def compare(a: Profile, b: Profile) -> Match:
    """Score two profiles.

    Returns:
        ``certain`` (score 1) when they share a checksum-valid resident ID; ``certainly-not`` (score 0) when
        both have valid resident IDs and none is shared; otherwise a score from the other fields, graded
        ``probable`` (≥ PROBABLE), ``possible`` (≥ MATCH_MINIMUM) or None.
    """
    if a.resident_ids and b.resident_ids:
        if a.resident_ids & b.resident_ids:
            return Match(1.0, "certain", (Evidence("resident-id", "agree", W_RESIDENT_ID),))
        return Match(0.0, "certainly-not", (Evidence("resident-id", "disagree", -W_RESIDENT_ID),))
    evidence: list[Evidence] = []
    ids_a, ids_b = a.resident_ids | a.other_ids, b.resident_ids | b.other_ids
    if ids_a & ids_b:
        legacy = bool((a.resident_ids & b.other_ids) or (b.resident_ids & a.other_ids))
        evidence.append(
            Evidence("identifier", "legacy", W_ID_LEGACY)
            if legacy
            else Evidence("identifier", "unverified", W_ID_UNVERIFIED)
        )
    if a.names.exact and b.names.exact:
        if a.names.exact & b.names.exact:
            evidence.append(Evidence("name", "agree", W_NAME_EXACT))
        elif a.names.phonetic & b.names.phonetic:
            evidence.append(Evidence("name", "phonetic", W_NAME_PHONETIC))
        elif max((jaro_winkler(x, y) for x in a.names.phonetic for y in b.names.phonetic), default=0.0) >= NAME_SIMILAR:
            evidence.append(Evidence("name", "similar", W_NAME_SIMILAR))
        else:
            evidence.append(Evidence("name", "disagree", W_NAME_DIFFERENT))
    if a.birth_date and b.birth_date:
        if a.birth_date == b.birth_date:
            evidence.append(Evidence("birthDate", "agree", W_BIRTH_EXACT))
        elif _birth_partial(a.birth_date, b.birth_date):
            evidence.append(Evidence("birthDate", "partial", W_BIRTH_PARTIAL))
        else:
            evidence.append(Evidence("birthDate", "disagree", W_BIRTH_DIFFERENT))
    if a.sex and b.sex:
        if a.sex == b.sex:
            evidence.append(Evidence("gender", "agree", W_SEX_AGREE))
        else:
            evidence.append(Evidence("gender", "disagree", W_SEX_DIFFERENT))
    if a.phones and b.phones:
        evidence.append(
            Evidence("phone", "agree", W_PHONE_AGREE)
            if a.phones & b.phones
            else Evidence("phone", "disagree", W_PHONE_DIFFERENT)
        )
    if a.addresses and b.addresses:
        best = max(_dice(x, y) for x in a.addresses for y in b.addresses)
        if best >= ADDRESS_SIMILAR:
            evidence.append(Evidence("address", "agree", W_ADDRESS_AGREE))
        elif best < ADDRESS_DIFFERENT:
            evidence.append(Evidence("address", "disagree", W_ADDRESS_DIFFERENT))
    total = sum(e.weight for e in evidence)
    score = 1.0 / (1.0 + 2.0 ** (OFFSET - total))
    score = min(round(score, 4), 0.9999)  # 1 is reserved for a shared resident ID
    grade: Grade | None
    if score >= PROBABLE:
        grade = "probable"
    elif score >= MATCH_MINIMUM:
        grade = "possible"
    else:
        grade = None
    return Match(score, grade, tuple(evidence))
