"""The Chinese resident identity card number (公民身份号码, GB 11643-1999).

An 18-character number: a 6-digit administrative region code (GB/T 2260), the birth date ``YYYYMMDD``, a
3-digit sequence code whose last digit is odd for men and even for women, and a check character computed with
ISO 7064 MOD 11-2 over the first 17 digits (``X`` stands for 10).

The hub identifies it in ``Patient.identifier.system`` by :data:`SYSTEM`, ``urn:oid:2.16.156.10011.1.3``: the
OID that the national health information standards (WS/T 500 CDA document headers, 患者身份证号标识) assign to
the patient's resident identity card number. (``2.16.156.10011.1.5`` in the same arc is the medical institution
code, not the patient's number.) Numbers declared otherwise are recognised by :func:`is_resident_id_identifier`.

The foreigner's permanent residence ID card of 2023 (外国人永久居留身份证) has a number of the same form and check
character, whose region part is ``9``, the province that issued it (a mainland province code) and the holder's
nationality (three digits, ISO 3166 numeric): ``911840…`` was issued in Beijing to a US national. No resident's
region starts with 9, so the two never collide; the hub takes it as the same kind of number.

The 15-digit numbers issued before 1999 (two-digit year, no check character) are not valid here: without a
check character a typo cannot be told from another person, so they never serve as a strong identifier.
:func:`from_legacy` turns one into its 18-digit form, which matching may use as weaker evidence.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

SYSTEM = "urn:oid:2.16.156.10011.1.3"
"""The identifier system URI the hub uses for the resident identity card number."""

# Systems that other senders are known to use for the same number; normalised to SYSTEM on matching.
ALIAS_SYSTEMS = frozenset(
    {
        SYSTEM,
        "2.16.156.10011.1.3",
        "http://www.nhc.gov.cn/identifier/resident-id",
    }
)

# ISO 7064 MOD 11-2: weight of position i (1-based from the left, 18 = check) is 2**(18 - i) mod 11.
WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
# Check character for (weighted sum mod 11): the value c with (sum + c) ≡ 1 (mod 11); 10 is written X.
CHECK_CHARS = "10X98765432"

# Province-level codes (GB/T 2260) that appear on issued cards: the 31 mainland provinces, and 81/82/83 of
# the residence permits for Hong Kong, Macao and Taiwan residents (their number is 810000/820000/830000
# followed by the same birth date, sequence and check character).
PROVINCES: frozenset[str] = frozenset(
    {
        *(str(n) for n in range(11, 16)),
        *(str(n) for n in range(21, 24)),
        *(str(n) for n in range(31, 38)),
        *(str(n) for n in range(41, 47)),
        *(str(n) for n in range(50, 55)),
        *(str(n) for n in range(61, 66)),
        "81",
        "82",
        "83",
    }
)
_PERMIT_PROVINCES = frozenset({"81", "82", "83"})
_FOREIGNER = "9"  # the first digit of a foreigner's permanent residence ID card (2023)
_EARLIEST_BIRTH = date(1850, 1, 1)

Sex = Literal["male", "female"]


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A checked resident identity card number and what it encodes."""

    value: str  # the 18 characters, check character upper case
    region: str  # the 6-digit administrative region code
    province: str  # its first two digits (of a foreigner's permanent residence card, the two after the 9)
    birth_date: date
    sex: Sex  # from the 17th digit: odd male, even female
    sequence: str  # the 3-digit sequence code (positions 15-17)

    @property
    def is_foreigners_permanent_residence(self) -> bool:
        """True for a foreigner's permanent residence ID card of 2023 (region ``9``, province, nationality)."""
        return self.region.startswith(_FOREIGNER)

    @property
    def is_residence_permit(self) -> bool:
        """True for a Hong Kong, Macao or Taiwan residents' residence permit (region 81/82/83 0000)."""
        return self.province in _PERMIT_PROVINCES


def normalize(value: str) -> str:
    """The number as the hub stores it: full-width characters folded (NFKC), spaces removed, ``x`` → ``X``."""
    folded = unicodedata.normalize("NFKC", value)
    return "".join(folded.split()).upper()


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 digits.

    Raises:
        ValueError: ``first17`` is not exactly 17 ASCII digits.
    """
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("expected 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def _region_ok(region: str) -> bool:
    if region.startswith(_FOREIGNER):
        # 9, the mainland province that issued the card, the holder's nationality (never 000)
        return region[1:3] in PROVINCES and region[1:3] not in _PERMIT_PROVINCES and region[3:] != "000"
    province, rest = region[:2], region[2:]
    if province not in PROVINCES:
        return False
    if province in _PERMIT_PROVINCES:
        return rest == "0000"
    # A person is registered at county level: a prefecture (positions 3-4) and a county (5-6) are both present
    # (city districts such as 110101 included); a bare province or prefecture code is not a residence.
    return rest[:2] != "00" and rest[2:] != "00"


def _birth(yyyymmdd: str, today: date) -> date | None:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None
    if born < _EARLIEST_BIRTH or born > today:
        return None
    return born


def parse(value: Any, *, today: date | None = None) -> ResidentId | None:
    """Check an 18-character resident identity card number and read what it encodes.

    Args:
        value: the number as received (spaces, full-width digits and a lower-case ``x`` are tolerated).
        today: the date a birth date may not be after (default: today).

    Returns:
        The parsed number, or None when it is not a valid number: wrong length or characters, unknown region,
        impossible or future birth date, or a wrong check character. A 15-digit legacy number is None too.
    """
    if not isinstance(value, str):
        return None
    s = normalize(value)
    if len(s) != 18 or not (s[:17].isascii() and s[:17].isdigit()) or s[17] not in CHECK_CHARS:
        return None
    if check_char(s[:17]) != s[17]:
        return None
    if not _region_ok(s[:6]):
        return None
    born = _birth(s[6:14], today or date.today())
    if born is None:
        return None
    return ResidentId(
        value=s,
        region=s[:6],
        province=s[1:3] if s.startswith(_FOREIGNER) else s[:2],
        birth_date=born,
        sex="male" if int(s[16]) % 2 else "female",
        sequence=s[14:17],
    )


def validate(value: Any, *, today: date | None = None) -> bool:
    """True when ``value`` is a valid 18-character resident identity card number (see :func:`parse`)."""
    return parse(value, today=today) is not None


def from_legacy(value: Any, *, today: date | None = None) -> str | None:
    """The 18-character form of a 15-digit pre-1999 number (``19`` inserted before the year, check appended).

    The result is only as good as the 15 digits (they carry no check character); use it as evidence, never as
    a strong identifier.

    Returns:
        The 18-character number, or None when ``value`` is not 15 digits with a valid region and birth date.
    """
    if not isinstance(value, str):
        return None
    s = normalize(value)
    if len(s) != 15 or not (s.isascii() and s.isdigit()) or s.startswith(_FOREIGNER):
        return None  # the foreigner's card (2023) never had a 15-digit form
    first17 = s[:6] + "19" + s[6:]
    full = first17 + check_char(first17)
    return full if parse(full, today=today) is not None else None


def is_resident_id_identifier(identifier: Any) -> bool:
    """True when a FHIR Identifier (a dict) is declared to carry the resident identity card number.

    The declaration is the system (:data:`SYSTEM` or a known alias) or the identifier type code ``NNCHN``
    (HL7 table 0203 ``NNxxx``, national person identifier, with the ISO 3166 code ``CHN``). The value is not
    checked here.
    """
    if not isinstance(identifier, dict):
        return False
    system = identifier.get("system")
    if isinstance(system, str) and system in ALIAS_SYSTEMS:
        return True
    id_type = identifier.get("type")
    codings = id_type.get("coding") if isinstance(id_type, dict) else None
    if not isinstance(codings, list):
        return False
    return any(isinstance(c, dict) and c.get("code") == "NNCHN" for c in codings)
