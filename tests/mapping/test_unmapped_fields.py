"""Fields a message gives that no rule reads (OBR-13, the relevant clinical information, in an order or a result)
are not carried over: the conversion report says so (``unmapped-field``: where, never the value), once per segment
id and field. Fields read by a rule, declared ``not_carried`` (the library's set ids and header fields, a
template's, an overlay's), and the fields of a segment reported whole are not reported; the Bundle is the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import MappingTemplateError
from hub.mapping import Converter

from .conftest import mappings_copy, one, with_report
from .order_messages import message, msh, obr, orc, orm, pid, pv1

CLINICAL_INFO = "疑似贫血"  # OBR-13, relevant clinical information: read by no rule of the library


def unmapped_fields(report):
    return [e for e in report if e["code"] == "unmapped-field"]


def fields_of(report) -> set[str]:
    """``OBR-13`` for an entry at ``OBR^1^13``."""
    found = set()
    for entry in unmapped_fields(report):
        seg, _seq, number = entry["location"].split("^")
        found.add(f"{seg}-{number}")
    return found


def oru(*order: str) -> str:
    """ORU^R01 with the order segments given; a result's OBR should leave OBR-31 (reason for study) empty: a report
    does not carry it (the order does)."""
    return message(
        msh("ORU", "R01", "ORU_R01", "ORU1"),
        pid(),
        pv1(),
        *order,
        # OBX-3 the test, OBX-5 the value, OBX-11 the result status
        "OBX|1|NM|718-7^血红蛋白^LN||98|g/L|||||F",
    )


def test_an_orders_relevant_clinical_information_is_reported(converter):
    _bundle, report = with_report(converter, orm(orc(), obr(f13=CLINICAL_INFO)))
    assert unmapped_fields(report) == [
        {
            "code": "unmapped-field",
            "location": "OBR^1^13",
            "detail": "OBR-13 has a value that no rule reads: it is not carried over",
        }
    ]
    # never the value
    assert CLINICAL_INFO not in str(report)


def test_a_results_relevant_clinical_information_is_reported(converter):
    _bundle, report = with_report(converter, oru(obr(f13=CLINICAL_INFO, f31="")))
    assert [e["location"] for e in unmapped_fields(report)] == ["OBR^1^13"]


def test_fields_a_rule_reads_and_empty_fields_are_not_reported(converter):
    # OBR-2/3/4/24, ORC-2/3, PID-3/5/7/8, PV1-2/19, OBX-2/3/5/6/11 are read; OBR-13 empty, or only separators and
    # nulls, is nothing lost
    for text in (oru(orc(f4="", f9="", f10="", f12="", f21=""), obr(f31="")), oru(obr(f13='^""^', f31=""))):
        _bundle, report = with_report(converter, text)
        assert unmapped_fields(report) == []


def test_declared_fields_are_not_reported(converter):
    # PID-1, PV1-1, OBR-1, OBX-1: set ids; MSH-5/6/7/10/11/12: the header (the library's not_carried.yaml)
    _bundle, report = with_report(converter, oru(obr(f31="")))
    assert not {"PID-1", "PV1-1", "OBR-1", "OBX-1", "MSH-7", "MSH-10", "MSH-12"} & fields_of(report)


def test_a_field_a_library_template_declares_is_not_reported(converter):
    # PID-12, the county code: Patient.yaml's not_carried (DIFFERENCES P8); OBR-13, the relevant clinical
    # information, is read by no rule of an order message: reported
    text = message(msh("ORM", "O01", "ORM_O01", "ORM9"), pid(f12="440300"), pv1(), orc(), obr(f13=CLINICAL_INFO))
    _bundle, report = with_report(converter, text)
    assert fields_of(report) == {"OBR-13"}


def test_one_entry_per_field_however_many_segments_give_it(converter):
    text = orm(orc(), obr(f13=CLINICAL_INFO), orc(f2="P101^HIS", f3="F201^LIS"), obr(f1="2", f2="P101^HIS", f13="x"))
    _bundle, report = with_report(converter, text)
    assert unmapped_fields(report) == [
        {
            "code": "unmapped-field",
            "location": "OBR^1^13",
            "detail": "OBR-13 has a value that no rule reads: it is not carried over (and in 1 more OBR)",
        }
    ]


def test_the_report_does_not_change_the_bundle(converter):
    with_info, report = with_report(converter, orm(orc(), obr(f13=CLINICAL_INFO)))
    without, _ = with_report(converter, orm(orc(), obr()))
    assert fields_of(report) == {"OBR-13"}
    assert with_info == without


def test_a_segment_reported_whole_is_not_reported_field_by_field(converter):
    # the patient's note of a patient without results (an OBX that says nothing): unmapped-segment; its NTE-2
    # (source of comment, read by no rule) is not reported besides
    text = message(msh("ORU", "R01", "ORU_R01", "ORU2"), pid(), "NTE|1|L|空腹", pv1(), "OBX|1|ST")
    _bundle, report = with_report(converter, text)
    assert [e["location"] for e in report if e["code"] == "unmapped-segment"] == ["NTE^1"]
    assert unmapped_fields(report) == []


# Templates and overlays -----------------------------------------------------------------------------------------

OVERLAY = """\
overlay: cityhis
senders:
  - {facility: SZRMYY}
resources:
  DiagnosticReport:
    elements:
      - path: conclusion           # this LIS puts its interpretation in OBR-13
        from: OBR-13
  Patient:
    elements:
      - path: extension            # the household registration (户籍) in a Z-segment
        from: ZPI-2
        elements:
          - path: url
            value: urn:hub:fhir:StructureDefinition:szrmyy-hukou
          - path: valueString
            from: "1"
not_carried:
  ZPI-1: a set id
"""


@pytest.fixture(scope="module")
def overlaid(tmp_path_factory: pytest.TempPathFactory) -> Converter:
    root = mappings_copy(tmp_path_factory.mktemp("unmapped-fields"))
    (root / "overlays").mkdir(exist_ok=True)
    (root / "overlays" / "cityhis.yaml").write_text(OVERLAY, encoding="utf-8")
    return Converter.load(root)


def test_an_overlay_that_maps_a_field_stops_its_report(converter, overlaid):
    text = oru(obr(f13=CLINICAL_INFO, f31=""))
    bundle, report = with_report(overlaid, text)
    assert one(bundle, "DiagnosticReport")["conclusion"] == CLINICAL_INFO
    assert unmapped_fields(report) == []
    # another sender's message, converted by the library alone, is still reported
    other = text.replace("|HIS|SZRMYY|", "|HIS|OTHER|")
    assert fields_of(with_report(converter, other)[1]) == {"OBR-13"}


def test_an_overlay_that_maps_a_z_segment_field_reports_its_other_fields(converter, overlaid):
    # ZPI-2 is read by the overlay, ZPI-1 (its set id) declared by it; ZPI-3 (given) read by nobody. The library
    # reads no ZPI field: the segment is reported whole (below), not field by field
    text = oru(obr(f31="")).replace("\rPV1|", "\rZPI|1|广东省深圳市|附加\rPV1|")
    assert fields_of(with_report(overlaid, text)[1]) == {"ZPI-3"}
    assert unmapped_segments(with_report(overlaid, text)[1]) == []
    assert fields_of(with_report(converter, text)[1]) == set()


def unmapped_segments(report):
    return [(entry["location"], entry["detail"]) for entry in report if entry["code"] == "unmapped-segment"]


def test_a_z_segment_nobody_maps_is_reported_whole(converter):
    # a site's own segments (v2.5.1 §2.8.3) that no template or overlay maps were dropped without a word
    text = oru(obr(f31="")).replace("\rPV1|", "\rZPI|1|广东省深圳市|附加\rZPI|2|x\rZXX|\rPV1|")
    bundle, report = with_report(converter, text)
    found = unmapped_segments(report)
    assert [where for where, _ in found] == ["ZPI^1"]  # once per id (ZXX is empty: nothing lost)
    assert "ZPI" in found[0][1] and "1 more ZPI" in found[0][1] and "广东" not in found[0][1]
    assert bundle == with_report(converter, oru(obr(f31="")))[0]


def test_a_z_segment_the_library_reads_or_an_overlay_declares_is_not_reported(converter, tmp_path: Path):
    # ZDS-1 (the study instance UID of an imaging report, IHE) is read by the library
    zds = oru(obr(f31="")).replace("\rPV1|", "\rPV1|") + "ZDS|1.2.840.113619.2.55.3^RIS^Application^DICOM\r"
    assert unmapped_segments(with_report(converter, zds)[1]) == []
    root = mappings_copy(tmp_path)
    (root / "overlays").mkdir(exist_ok=True)
    (root / "overlays" / "cityhis.yaml").write_text(
        "overlay: cityhis\nsenders: [{facility: SZRMYY}]\nnot_carried:\n  ZPI: the HIS's screen layout, no data\n",
        encoding="utf-8",
    )
    text = oru(obr(f31="")).replace("\rPV1|", "\rZPI|1|x\rPV1|")
    assert unmapped_segments(with_report(Converter.load(root), text)[1]) == []


def test_a_template_or_an_overlay_declares_a_field_not_carried(tmp_path: Path):
    root = mappings_copy(tmp_path)
    template = root / "resource" / "DiagnosticReport.yaml"
    template.write_text(
        template.read_text(encoding="utf-8")
        + "not_carried:\n  OBR-13: the requester's clinical information; the order message carries it\n",
        encoding="utf-8",
    )
    (root / "overlays").mkdir(exist_ok=True)
    (root / "overlays" / "cityhis.yaml").write_text(
        "overlay: cityhis\nsenders: [{facility: SZRMYY}]\nnot_carried:\n  OBR-17: this LIS's callback line\n",
        encoding="utf-8",
    )
    converter = Converter.load(root)
    text = oru(obr(f13=CLINICAL_INFO, f17="0755-1234", f31=""))
    assert fields_of(with_report(converter, text)[1]) == set()
    # the overlay's declaration is for its senders only
    other = text.replace("|HIS|SZRMYY|", "|HIS|OTHER|")
    assert fields_of(with_report(converter, other)[1]) == {"OBR-17"}


@pytest.mark.parametrize(
    ("declared", "reason"),
    [
        ("OBR-13.1: x", "segment fields such as OBR-17"),
        ("obr-13: x", "segment fields such as OBR-17"),
        ("OBR-13: ''", "the reason"),
    ],
)
def test_a_not_carried_key_is_checked_at_load(tmp_path: Path, declared: str, reason: str):
    root = mappings_copy(tmp_path)
    template = root / "message" / "ADT_A09.yaml"  # a template without a not_carried key of its own
    template.write_text(
        template.read_text(encoding="utf-8") + f"not_carried:\n  {declared}\n",
        encoding="utf-8",
    )
    with pytest.raises(MappingTemplateError, match=reason):
        Converter.load(root)


def test_the_compiled_message_knows_what_its_rules_read(converter):
    # element from paths, conditions (PV1-45 in ORU's encounter status), id keys (OBR-3), datatype templates
    compiled = converter._messages["ORU_R01"]
    assert {("OBR", 3), ("OBR", 4), ("PV1", 45), ("PID", 3), ("OBX", 5)} <= compiled.reads
    assert ("OBR", 13) not in compiled.reads


def test_a_standard_segment_no_rule_reads_is_reported_whole_and_the_sending_software_is_not(converter):
    # DB1 (disability) and ACC (accident) of an ADT: the library reads no field of them, and they were dropped
    # without a word; SFT (the sending software) holds no patient data (not_carried.yaml)
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^A01^ADT_A01|SEG1|P|2.5.1",
            "SFT|Winning Health|5.0|HIS|B100",
            "EVN|A01|20260315083000",
            "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M",
            "PV1|1|I|内科^301^2||||||||||||||||V0001^^^SZRMYY^VN",
            "DB1|1|PT|MRN0001^^^SZRMYY^MR|Y",
            "ACC|20260301|04^交通事故",
        ]
    )
    report = with_report(converter, text + "\r")[1]
    assert [where for where, _ in unmapped_segments(report)] == ["DB1^1", "ACC^1"]


def test_an_event_segment_is_not_reported_where_no_template_reads_it(converter):
    """The IG maps EVN to a Provenance (EVN[Provenance]), which the hub does not make: EVN-2 … EVN-7 are declared
    not carried (not_carried.yaml), so an A05's event, which no rule of ADT_A05 reads, is not reported whole."""
    text = message(
        msh("ADT", "A05", "ADT_A05", "EVN1"),
        "EVN|A05|20260315083000|20260316080000|01|D001^李^明|20260315082000|SZRMYY",
        pid(),
        pv1(),
    )
    _bundle, report = with_report(converter, text)
    assert [e for e in report if e["location"].startswith("EVN")] == []


def test_segments_the_ig_maps_to_nothing_in_a_result_are_declared_not_reported(converter):
    """TQ1/TQ2 (the order's timing), CTD, FT1 and CTI of an ORU^R01 order: the HL7 v2-to-FHIR IG maps them to nothing
    (ORU_R01 rows 4.2.4.1, 4.2.4.2, 4.2.5, 4.2.6); ORU_R01.yaml declares them not carried, with the reason."""
    text = oru(
        orc(),
        obr(f31=""),
        "TQ1|1||TID|||3^D|20260315080000",
        "CTD|C^紧急联系人^HL70131|钱^七",
        "FT1|1|T-1||20260315||CG|CBC01^血常规^L|||1|25&CNY",
        "CTI|RSID1234|1^Phase_ID1^HL70396",
    )
    _bundle, report = with_report(converter, text)
    assert [e for e in report if e["code"] == "unmapped-segment"] == []


def test_an_orders_billing_and_trial_segments_are_declared_not_reported(converter):
    """CTD, CTI, BLG, RQ1 of an ORM^O01 order: the IG maps them to nothing (OML_O21 rows 6.4.5, 6.6, 6.7)."""
    text = orm(orc(), obr(), "CTD|C^紧急联系人^HL70131|钱^七", "CTI|RSID1234|1^Phase_ID1^HL70396", "BLG||CR|A100")
    _bundle, report = with_report(converter, text)
    assert [e for e in report if e["code"] == "unmapped-segment"] == []
