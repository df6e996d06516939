"""Conversion speed per core: parse → map → serialise (jsoncodec), next to hl7apy's raw parse of the same messages.

    .venv/bin/python bench/convert.py                  # ADT^A01, ORU^R01 with 20 OBX, the corpus; ~1 minute
    .venv/bin/python bench/convert.py --long 200000    # and memory over a long run

Prints, for each message kind: conversions per second on this one core, hl7apy parses per second of the same
message in the same run, their ratio, and whether the output is valid FHIR R4 (official JSON schema). Each bench
message is measured twice: sent again and again, and as a stream of other patients' messages (``variant``: ids,
names, times and results all new), as real traffic is. Then the floor: the same two Bundles built by CPython with
no mapping at all (tokenise, build the tree from values already known, hash the ids, serialise), the hub's time
and the targets' as multiples of it. Then
peak memory (tracemalloc during a measured run, and the process's maximum resident set), and, with --long,
the resident set sampled along a long run of conversions: it must stay flat.

Targets (issue 2 / ARCHITECTURE.md): ≥ 10,000 ADT^A01/s and ≥ 2,000 ORU^R01 (20 OBX)/s per core, ≥ 100× hl7apy.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import resource
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import cycle
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.config import DEFAULT_MAPPINGS_DIR, Settings  # noqa: E402
from hub.errors import ConversionError  # noqa: E402
from hub.fhir import jsoncodec  # noqa: E402
from hub.fhir.validation import validate_bundle  # noqa: E402
from hub.hl7 import er7  # noqa: E402
from hub.mapping import get_converter  # noqa: E402
from hub.mapping.ids import make_id  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "hl7v2"

ADT_A01 = (
    "\r".join(
        [
            "MSH|^~\\&|HIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||ADT^A01^ADT_A01|MSG0001|P|2.5.1"
            "||||||UNICODE UTF-8",
            "EVN|A01|20260315083000|||D001^王^五",
            "PID|1||MRN0001^^^SZRMYY^MR~440305198001011235^^^^NNCHN||张三^^^^^^L||19800101|M|||"
            "深南大道1号^^深圳市^广东省^518000^CHN^H||13800138000^PRN^CP|0755-88888888^WPN^PH||M^已婚^HL70002"
            "||||||||||||||N",
            "PD1|||深圳市人民医院^^SZRMYY|D009^陈^医生",
            "NK1|1|李四|SPO^配偶^HL70063|深南大道1号^^深圳市^广东省^518000^CHN|13900139000^PRN^PH||C",
            "PV1|1|I|内科^301^2^SZRMYY||||D001^王^五^^^^主任医师|D003^刘^七||MED||||7|||D002^赵^六||V0001^^^SZRMYY^VN"
            "|||||||||||||||||||||||||20260315083000",
            "PV2|||R10.9^腹痛^I10",
        ]
    )
    + "\r"
)

_LAB = [
    ("2345-7", "Glucose", "5.6", "mmol/L", "3.9-6.1", "N"),
    ("2160-0", "Creatinine", "132", "umol/L", "45-84", "H"),
    ("3094-0", "Urea nitrogen", "6.1", "mmol/L", "2.9-8.2", "N"),
    ("2951-2", "Sodium", "141", "mmol/L", "137-147", "N"),
    ("2823-3", "Potassium", "3.2", "mmol/L", "3.5-5.3", "L"),
    ("2075-0", "Chloride", "103", "mmol/L", "99-110", "N"),
    ("2028-9", "Carbon dioxide", "24", "mmol/L", "21-31", "N"),
    ("17861-6", "Calcium", "2.31", "mmol/L", "2.11-2.52", "N"),
    ("2885-2", "Protein", "72", "g/L", "65-85", "N"),
    ("1751-7", "Albumin", "41", "g/L", "40-55", "N"),
    ("1975-2", "Bilirubin total", "15.2", "umol/L", "0-21", "N"),
    ("6768-6", "Alkaline phosphatase", "96", "U/L", "45-125", "N"),
    ("1742-6", "ALT", "88", "U/L", "9-50", "H"),
    ("1920-8", "AST", "61", "U/L", "15-40", "H"),
    ("2093-3", "Cholesterol", "5.2", "mmol/L", "<5.2", "H"),
    ("2571-8", "Triglyceride", "1.1", "mmol/L", "<1.7", "N"),
    ("2085-9", "HDL cholesterol", "1.3", "mmol/L", ">1.0", "N"),
    ("13457-7", "LDL cholesterol", "3.1", "mmol/L", "<3.4", "N"),
    ("3084-1", "Urate", "420", "umol/L", "208-428", "N"),
    ("2532-0", "LDH", "180", "U/L", "120-250", "N"),
]
ORU_R01 = (
    "\r".join(
        [
            "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|LAB0001|P|2.5.1||||||UNICODE UTF-8",
            "PID|1||MRN0001^^^SZRMYY^MR||李^四||19750505|F",
            "PV1|1|O|检验科^^^SZRMYY||||D001^王^五|||LAB|||||||||V0002^^^SZRMYY^VN",
            "ORC|RE|P100^HIS|F200^LIS",
            "OBR|1|P100^HIS|F200^LIS|24323-8^Comprehensive metabolic panel^LN|||20260315080000|||||||||D001^王^五"
            "||||||20260315091500||CH|F",
            *(
                f"OBX|{i}|NM|{code}^{name}^LN||{value}|{unit}^{unit}^UCUM|{rng}|{flag}|||F|||20260315083000"
                for i, (code, name, value, unit, rng, flag) in enumerate(_LAB, start=1)
            ),
            "NTE|1||复查建议",
            "SPM|1|S1^S9001&LIS||SER^Serum^HL70487|||||||||||||20260315080000|202603150830",
        ]
    )
    + "\r"
)


_TIMESTAMP = re.compile(r"20260315\d{4,6}")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超")


def variant(text: str, i: int) -> str:
    """Bench message ``text`` as the ``i``-th patient's: message control id, MRN, visit and order numbers, name,
    times (each message's its own, over the ten years before) and results all differ, as in real traffic, so that
    no cache keyed by a value (a parsed timestamp, a looked-up code) serves a later message from an earlier one."""
    shift = timedelta(days=i % 3653, minutes=i)
    name = f"{_SURNAMES[i % len(_SURNAMES)]}^{_GIVEN[(i // len(_SURNAMES)) % len(_GIVEN)]}"

    def moved(match: re.Match[str]) -> str:
        digits = match.group()
        when = datetime.strptime(digits.ljust(14, "0"), "%Y%m%d%H%M%S") - shift
        return when.strftime("%Y%m%d%H%M%S")[: len(digits)]

    varied = (
        _TIMESTAMP.sub(moved, text)
        .replace("0001|P|2.5.1", f"{i:06d}|P|2.5.1")  # MSH-10
        .replace("MRN0001", f"MRN{i:07d}")
        .replace("V0001^", f"V{i:07d}^")
        .replace("V0002^", f"V{i:07d}^")
        .replace("P100^", f"P{i:07d}^")
        .replace("F200^", f"F{i:07d}^")
        .replace("张三^", name.replace("^", "") + "^")
        .replace("李^四", name)
    )
    # the results: each value moved by a step of its last digit (5.6 → 5.7 …; the reference range unchanged)
    segments = varied.split("\r")
    for n, segment in enumerate(segments):
        if segment.startswith("OBX|"):
            fields = segment.split("|")
            decimals = len(fields[5].partition(".")[2])
            fields[5] = f"{max(float(fields[5]) + (i % 7 - 3) / 10**decimals, 0):.{decimals}f}"
            segments[n] = "|".join(fields)
    return "\r".join(segments)


def each(fn: Callable[[str], object], texts: list[str]) -> Callable[[], object]:
    """``fn`` of the next text of ``texts`` at each call, round and round."""
    ring = cycle(texts)
    return lambda: fn(next(ring))


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` on this core: the best of three runs of about ``seconds`` / 3 each."""
    fn()
    best = 0.0
    for _ in range(3):
        n = 0
        start = time.process_time()
        deadline = start + seconds / 3
        while True:
            for _ in range(10):
                fn()
            n += 10
            now = time.process_time()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def floor(text: str, bundle: dict[str, Any]) -> Callable[[], object]:
    """What any converter of ``text`` to ``bundle`` must do at least, in CPython, without any mapping: tokenise the
    message to components, build the Bundle's tree with values already known (a generated dict/list literal), hash
    an id per resource (:func:`hub.mapping.ids.make_id`) and serialise. A lower bound for the conversion's time."""
    leaves: list[str] = []

    def literal(value: object) -> str:
        if isinstance(value, dict):
            return "{" + ",".join(f"{key!r}:{literal(item)}" for key, item in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ",".join(literal(item) for item in value) + "]"
        if isinstance(value, str):
            leaves.append(value)
            return f"leaves[{len(leaves) - 1}]"
        if isinstance(value, float):
            return repr(float(value))  # a decimal as a plain float: the floor need not keep its digits
        return repr(value)

    namespace: dict[str, Any] = {}
    exec(f"def build(leaves):\n    return {literal(bundle)}", namespace)  # noqa: S102 - our own output's shape
    build = namespace["build"]
    keys = [(entry["resource"]["resourceType"], [entry["resource"]["id"]]) for entry in bundle["entry"]]

    def run() -> object:
        segments = [line.split("|") for line in text.split("\r") if line]
        [[field.split("^") for field in fields] for fields in segments]
        [make_id(rtype, parts) for rtype, parts in keys]
        return orjson.dumps(build(list(leaves)))

    return run


def hl7apy_parse() -> Callable[[str], object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from hl7apy.parser import parse_message

    def parse(text: str) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return parse_message(text.replace("\n", "\r"))

    return parse


def rss_kib() -> int:
    """The current resident set size (Linux /proc), KiB."""
    with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="time per measurement (default 6)")
    parser.add_argument("--long", type=int, default=0, help="also convert this many messages and sample memory")
    parser.add_argument("--no-corpus", action="store_true", help="skip the corpus")
    args = parser.parse_args()

    converter = get_converter(Settings(mappings_dir=DEFAULT_MAPPINGS_DIR))  # loaded as the hub loads it
    hparse = hl7apy_parse()

    def full(text: str) -> Callable[[], object]:
        return lambda: jsoncodec.dumps(converter.convert(er7.parse(text)))

    cases: list[tuple[str, list[str]]] = [
        ("ADT^A01", [ADT_A01]),
        ("ORU^R01, 20 OBX", [ORU_R01]),
        ("ADT^A01, 20,000 patients", [variant(ADT_A01, i) for i in range(20_000)]),
        ("ORU^R01, 6,000 patients", [variant(ORU_R01, i) for i in range(6_000)]),
    ]
    if not args.no_corpus and CORPUS.is_dir():
        adt: list[str] = []
        oru: list[str] = []
        for path in sorted(CORPUS.rglob("*.hl7")):
            text = path.read_bytes().decode("utf-8-sig")
            message = er7.parse(text)
            code, event, structure = converter.structure_of(message)
            if code not in ("ADT", "ORU") or not converter.supports(structure, event):
                continue
            try:
                converter.convert(message)
            except ConversionError:
                continue  # a malformed sample (two segments on one line): refused, not measured
            (oru if code == "ORU" else adt).append(text)
        cases += [(f"corpus ADT ({len(adt)} msgs)", adt), (f"corpus ORU ({len(oru)} msgs)", oru)]

    print(f"python {sys.version.split()[0]}, one core, best of 3 × {args.seconds / 3:.1f} s CPU time per figure")
    print(f"{'messages':<26}{'convert msg/s':>15}{'hl7apy parse/s':>16}{'ratio':>9}{'R4 valid':>10}")
    for label, texts in cases:
        # validity of each message (of the first 50 of the variants: the schema check is slow)
        valid = all(validate_bundle(converter.convert(er7.parse(t))) == [] for t in texts[:50])
        ours = rate(each(lambda text: full(text)(), texts), args.seconds)
        theirs = rate(each(hparse, texts), args.seconds)
        print(f"{label:<26}{ours:>15,.0f}{theirs:>16,.1f}{ours / theirs:>8,.0f}×{'yes' if valid else 'NO':>10}")

    # The floor: the same outputs built with no mapping at all (floor); the targets measured against it
    for label, text, target in (("ADT^A01", ADT_A01, 10_000), ("ORU^R01, 20 OBX", ORU_R01, 2_000)):
        least = rate(floor(text, converter.convert(er7.parse(text))), args.seconds)
        ours = rate(full(text), args.seconds)
        print(
            f"{label}: CPython floor (tokenise, build the same Bundle from known values, hash ids, serialise) "
            f"{least:,.0f}/s; the hub {ours:,.0f}/s, {least / ours:.1f}× the floor's time; target {target:,}/s, "
            f"{least / target:.1f}× the floor's time"
        )

    # Peak memory of a measured run (tracemalloc: Python allocations) and of the process so far.
    gc.collect()
    tracemalloc.start()
    for _ in range(200):
        full(ORU_R01)()
        full(ADT_A01)()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak traced allocation over 400 conversions: {peak / 1024:,.0f} KiB; process max RSS {max_rss:,} KiB")

    if args.long:
        samples = []
        step = max(1, args.long // 10)
        # a new patient every message (variant): a cache that grows with the values it has seen shows here
        for i in range(args.long):
            full(variant(ORU_R01 if i % 2 else ADT_A01, i // 2))()
            if i % step == 0:
                samples.append(rss_kib())
        samples.append(rss_kib())
        growth = samples[-1] - samples[1] if len(samples) > 2 else 0
        print(f"RSS over {args.long:,} conversions (KiB): {' '.join(f'{s:,}' for s in samples)}")
        print(f"growth after warm-up: {growth:+,} KiB ({'flat' if abs(growth) < 2048 else 'GROWING'})")


if __name__ == "__main__":
    main()
