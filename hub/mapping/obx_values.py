"""Built-ins for OBX values (OBX-5) whose v2 type has no plain FHIR counterpart.

* NA (numeric array) and MA (multiplexed array) are ``SampledData`` (v2-to-FHIR IG OBX[Observation] row 5:
  NA[SampledData]; MA is its multi-channel form): the values in ``data``, the channels in ``dimensions`` (an NA
  vector is one channel; the rows of an NA table and the samples of an MA are points of as many channels as they
  have values).
* MO (money) and the price of a CP are a ``Quantity`` in ISO 4217 currency.
* The structured types ``Observation.value[x]`` cannot hold (names, addresses, identifiers, telephone numbers,
  organisations) are kept as text and reported (``value-as-text``), as is an array or amount that cannot be read.

Registered in :data:`hub.mapping.builtins.BUILTINS` (imported at the end of that module).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from hub.mapping.builtins import BUILTINS, Builtin, Conv, fhir_string, name_text, number
from hub.mapping.runtime import Ctx, Item, leaf, segment_seq, split

# SampledData.period is required in R4 but v2 never says how far apart the values of an array are: the period is
# given as unknown (a data-absent-reason extension on the primitive, allowed for any required primitive).
_UNKNOWN_PERIOD = {
    "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]
}
_NM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
# What Chinese systems write for the renminbi instead of its ISO 4217 code
_CURRENCY_WORDS = {"RMB": "CNY", "元": "CNY", "人民币": "CNY", "¥": "CNY", "￥": "CNY"}
_ISO_4217 = "urn:iso:std:iso:4217"
_OBX_VALUE = 5

# OBX-2 types whose value is a person's name, and where the name starts (XCN/CN: after the id)
_NAME_START = {"PN": 0, "XPN": 0, "CN": 1, "XCN": 1}
_TELEPHONE = frozenset({"TN", "XTN"})
# Types that have a FHIR value when they can be read (SampledData, Quantity, the IG's string of a range)
_READABLE = frozenset({"NA", "MA", "MO", "VR"})


def _decimal_text(text: str) -> str | None:
    """A v2 NM as the text of a FHIR decimal (``+1.20`` → ``1.20``, ``.5`` → ``0.5``), None when it is no number."""
    text = text.strip()
    if not _NM.fullmatch(text):
        return None
    return format(Decimal(text), "f")


def _obx_sampled_data(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    seg = item[0]
    if seg is None:
        return None
    env = ctx.env
    raw = seg[_OBX_VALUE]
    rows: list[list[str]] = []
    for repetition in raw.split(env.rep) if raw else ():
        values = [leaf(env, part, 1) for part in split(env, repetition, 0)]
        while values and not values[-1]:
            values.pop()  # padding
        rows.append(values)
    while rows and not rows[-1]:
        rows.pop()
    # Nothing, an empty row of a table, or rows (samples) of different lengths (values left out at the end of a
    # row, which NA allows): no array SampledData can hold without saying which values are absent.
    if not rows or len({len(row) for row in rows}) != 1 or not rows[0]:
        return None
    data: list[str] = []
    for row in rows:
        for value in row:
            sample = _decimal_text(value)
            if sample is None:
                return None  # a missing or unreadable sample: the array is kept as text instead
            data.append(sample)
    origin: dict[str, Any] = {"value": 0}
    unit = (args or {}).get("unit")
    if isinstance(unit, dict):
        origin.update((key, unit[key]) for key in ("unit", "system", "code") if key in unit)
    # NA: a row (one repetition) is a vector, the values of one channel; a table (several) has a row per point.
    # MA: a repetition per sample, a component per channel. SampledData interleaves the channels point by point.
    single_vector = len(rows) == 1 and leaf(env, seg[2], 0).upper() == "NA"
    dimensions = 1 if single_vector else len(rows[0])
    return {"origin": origin, "_period": _UNKNOWN_PERIOD, "dimensions": dimensions, "data": " ".join(data)}


def _mo_quantity(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    raw = item[1]
    if raw is None:
        return None
    level = item[2]
    parts = [leaf(ctx.env, part, level + 1) for part in split(ctx.env, raw, level)]
    if not parts:
        return None
    try:
        amount = number(parts[0])  # the sender's digits kept (a FhirDecimal), an int without a point
    except ValueError:
        return None
    out: dict[str, Any] = {"value": amount}
    currency = parts[1].strip() if len(parts) > 1 else ""
    code = _CURRENCY_WORDS.get(currency.upper()) or _CURRENCY_WORDS.get(currency)
    if code is None and _CURRENCY.fullmatch(currency):
        code = currency.upper()
    if code is not None:
        out.update(unit=code, system=_ISO_4217, code=code)
    elif currency:
        out["unit"] = currency
    return out


def _value_text(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    raw = item[1]
    seg = item[0]
    if raw is None or seg is None:
        return None
    env = ctx.env
    level = item[2]
    kind = leaf(env, seg[2], 0).upper()
    parts = [leaf(env, part, level + 1) for part in split(env, raw, level)]
    text: str | None
    if kind in _NAME_START:
        start = _NAME_START[kind]
        name = parts[start:]
        name += [""] * (5 - len(name))
        # family, given, further given names, suffix, prefix (XPN.1–5; XCN.2–6)
        text = name_text(name[0], [g for g in name[1:3] if g], [p for p in name[4:5] if p], [s for s in name[3:4] if s])
        if start and parts[0]:
            text = f"{text} ({parts[0]})" if text else parts[0]
    elif kind in _TELEPHONE:
        text = BUILTINS["XTN_value"].make()(ctx, item, None)
    else:
        # every component and subcomponent (a CP's price is amount&currency, a CX's authority namespace&OID&type)
        words = [leaf(env, sub, 2) for part in split(env, raw, level) for sub in split(env, part, level + 1)]
        text = fhir_string(" ".join(word for word in words if word))
    if not text:
        return None
    # Where and which type, never the value (it may be personal data)
    entry = {
        "code": "value-as-text",
        "location": f"{seg.name}^{segment_seq(env.message, seg)}^{_OBX_VALUE}",
        "detail": f"OBX-2 {kind}: "
        + ("the value cannot be read as its type" if kind in _READABLE else "no FHIR value of this type")
        + ", kept as text",
    }
    if entry not in env.report:
        env.report.append(entry)
    return text


def _builtin(name: str, fhir: str, conv: Conv, description: str, args: dict[str, str] | None = None) -> None:
    BUILTINS[name] = Builtin(name, fhir, lambda: conv, args or {}, description)


_builtin(
    "OBX_SampledData",
    "SampledData",
    _obx_sampled_data,
    "an NA or MA value (OBX-5) read whole, every repetition, as SampledData: an NA vector one channel, the rows of "
    "an NA table and the samples of an MA points of as many channels as they have values (dimensions), data the "
    "values in order, origin 0 in the unit argument, period unknown (data-absent-reason: v2 does not say it); "
    "nothing when a value is absent or no number, or the rows have different lengths",
    {"unit": "Quantity"},
)
_builtin(
    "MO_Quantity",
    "Quantity",
    _mo_quantity,
    "an MO (amount^currency; the price of a CP, its subcomponents) as a Quantity in ISO 4217 currency "
    "(urn:iso:std:iso:4217; RMB, 元, 人民币 → CNY); an unknown currency is the unit text; nothing when the amount is "
    "no number",
)
_builtin(
    "OBX_value_text",
    "string",
    _value_text,
    "an OBX-5 value that Observation.value[x] has no type for, as text, reported (value-as-text: OBX-2 and where, "
    "never the value): a name (PN, XPN; CN, XCN with the id after it) as written, a telephone number (TN, XTN) as "
    "XTN_value, anything else its components separated by spaces",
)
