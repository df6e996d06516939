"""`hub mappings check`, `hub convert --sender-overlay` and `hub conformance`, through the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR
from tests.mapping.conftest import mappings_copy

VALID_RESIDENT_ID = "11010519491231002X"
MESSAGE = (
    "MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^A01^ADT_A01|C1|P|2.5.1||||||UNICODE UTF-8\r"
    "EVN|A01|20260315083000\r"
    f"PID|1||MRN0001^^^SZRMYY^MR|{VALID_RESIDENT_ID}|王^五||19491231|M|||||13800138000\r"
    "PV1|1|I|内科^301^2||||||||||||||||V0001^^^SZRMYY^VN|||||||||||||||||||||||||20260315083000\r"
)
OVERLAY = """overlay: testhosp
senders: [{facility: SOMEONE-ELSE}]
resources:
  Patient:
    elements:
      - path: identifier
        from: PID-4
        type: ResidentID
"""


def hub(*args: str, mappings: Path | None = None, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HUB_DATA_DIR": str(data_dir),
        "HUB_MAPPINGS_DIR": str(mappings or DEFAULT_MAPPINGS_DIR),
    }
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_mappings_check_passes_and_names_file_and_line(tmp_path: Path) -> None:
    done = hub("mappings", "check", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "message structures" in done.stderr and ": ok" in done.stderr

    root = mappings_copy(tmp_path)
    (root / "overlays").mkdir()
    (root / "overlays" / "testhosp.yaml").write_text(OVERLAY.replace("path: identifier", "path: identifer"))
    (root / "datatype" / "XTN.yaml").write_text(
        (root / "datatype" / "XTN.yaml").read_text(encoding="utf-8").replace("datatype: XTN", "datatype: XTNN"),
        encoding="utf-8",
    )
    done = hub("mappings", "check", str(root), data_dir=tmp_path)
    assert done.returncode == 1
    assert f"{root}/datatype/XTN.yaml:" in done.stderr  # the library's mistake, with its line
    assert "XTNN" in done.stderr


@pytest.mark.slow
def test_mappings_check_reports_an_overlay_mistake_with_its_line(tmp_path: Path) -> None:
    root = mappings_copy(tmp_path)
    (root / "overlays").mkdir()
    (root / "overlays" / "testhosp.yaml").write_text(OVERLAY.replace("path: identifier", "path: identifer"))
    done = hub("mappings", "check", str(root), data_dir=tmp_path)
    assert done.returncode == 1
    assert f"{root}/overlays/testhosp.yaml:6:" in done.stderr
    assert "identifer" in done.stderr


@pytest.mark.slow
def test_convert_with_a_sender_overlay_and_the_report(tmp_path: Path) -> None:
    message = tmp_path / "a01.hl7"
    message.write_text(MESSAGE, encoding="utf-8")
    overlay = tmp_path / "testhosp.yaml"
    overlay.write_text(OVERLAY, encoding="utf-8")

    plain = hub("convert", str(message), data_dir=tmp_path)
    assert plain.returncode == 0, plain.stderr
    patient = next(
        e["resource"] for e in json.loads(plain.stdout)["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    # PID-4 without a type, read by the library's CX: a number that passes GB 11643 is the card's without the overlay
    assert any(i.get("system") == "urn:oid:2.16.156.10011.1.3" for i in patient["identifier"])

    # the overlay names another sender; --sender-overlay applies it anyway
    done = hub("convert", "--sender-overlay", str(overlay), str(message), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    bundle = json.loads(done.stdout)
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    national = [i for i in patient["identifier"] if i.get("system") == "urn:oid:2.16.156.10011.1.3"]
    assert [i["value"] for i in national] == [VALID_RESIDENT_ID]

    # an invalid number is kept, flagged, and reported on stderr without the number
    bad = tmp_path / "bad.hl7"
    bad.write_text(MESSAGE.replace(VALID_RESIDENT_ID, "110105194912310021"), encoding="utf-8")
    # the library alone cannot tell it is meant as the card's: not flagged
    assert "invalid-resident-id" not in hub("convert", str(bad), data_dir=tmp_path).stderr
    done = hub("convert", "--sender-overlay", str(overlay), str(bad), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'report: {"code":"invalid-resident-id","location":"PID^1"}' in done.stderr
    assert "110105194912310021" not in done.stderr


@pytest.mark.slow
def test_conformance_scores_and_min_score(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus" / "sender"
    corpus.mkdir(parents=True)
    (corpus / "a01.hl7").write_text(MESSAGE, encoding="utf-8")
    converted = hub("convert", str(corpus / "a01.hl7"), data_dir=tmp_path)
    expected = json.loads(converted.stdout)
    (corpus / "a01.expected.json").write_text(json.dumps(expected), encoding="utf-8")
    (corpus / "without-expected.hl7").write_text(MESSAGE, encoding="utf-8")

    done = hub("conformance", str(tmp_path / "corpus"), "--json", "--min-score", "100", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["overall"]["score"] == 100.0
    assert report["overall"]["fields_compared"] > 10
    assert report["by_message_type"]["ADT_A01"]["messages"] == 1
    assert report["skipped_without_expected_json"] == ["sender/without-expected.hl7"]

    # the expected output says another birth date and gender: two disagreements, and --min-score fails
    for entry in expected["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = "1950-01-01"
            entry["resource"]["gender"] = "female"
    (corpus / "a01.expected.json").write_text(json.dumps(expected), encoding="utf-8")
    done = hub("conformance", str(tmp_path / "corpus"), "--json", "--min-score", "100", data_dir=tmp_path)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["overall"]["different"] == 2
    fields = {d["field"] for d in report["messages"][0]["disagreements"]}
    assert fields == {"birthDate", "gender"}
