"""`hub conformance DIR` on a batch file (FHS/BHS … BTS/FTS): split into its messages as `hub convert` splits it,
each compared with its own expected Bundle, through the real commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.batches import BOM, nightly, wrap


def hub(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HUB_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _conformance(root: Path, tmp_path: Path) -> dict:
    done = hub("conformance", str(root), "--json", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_conformance_compares_each_message_of_a_batch_file(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    sender = root / "sz_peoples_2"
    sender.mkdir(parents=True)
    night = sender / "nightly.hl7"
    night.write_bytes(BOM + wrap(nightly(sep="\r\n"), sep="\r\n").encode())  # a Windows file: BOM, CRLF
    converted = hub("convert", str(night), data_dir=tmp_path)
    assert converted.returncode == 0, converted.stderr
    expected = night.with_name("nightly.expected.json")
    expected.write_text(converted.stdout, encoding="utf-8")  # one Bundle per line, as `hub convert` prints a batch

    report = _conformance(root, tmp_path)
    paths = [m["path"] for m in report["messages"]]
    assert paths == [f"sz_peoples_2/nightly.hl7 message {n}" for n in (1, 2, 3)]
    assert [m["message_type"] for m in report["messages"]] == ["ADT_A01", "ORU_R01", "ADT_A01"]
    assert report["by_message_type"]["ADT_A01"]["messages"] == 2
    assert report["by_message_type"]["ORU_R01"]["messages"] == 1
    assert report["overall"]["not_converted"] == 0 and report["overall"]["score"] == 100.0
    assert report["overall"]["fields_compared"] > 20

    # As a JSON array, with the second message's patient born on another day: one disagreement, on message 2.
    bundles = [json.loads(line) for line in converted.stdout.splitlines()]
    for entry in bundles[1]["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = "1982-09-24"
    expected.write_text(json.dumps(bundles), encoding="utf-8")
    report = _conformance(root, tmp_path)
    assert [(m["path"], [d["field"] for d in m["disagreements"]]) for m in report["messages"]] == [
        ("sz_peoples_2/nightly.hl7 message 1", []),
        ("sz_peoples_2/nightly.hl7 message 2", ["birthDate"]),
        ("sz_peoples_2/nightly.hl7 message 3", []),
    ]

    # A batch the hub would refuse whole is not converted, and says why; so is one Bundle short.
    night.write_bytes(wrap(nightly(), count=4).encode())
    report = _conformance(root, tmp_path)
    assert report["not_converted"] == {
        "sz_peoples_2/nightly.hl7": "BTS-1 says 4 messages, the batch holds 3: the hub would refuse this batch whole"
        " (at BTS^1^1)"
    }
    assert report["overall"]["missing"] == report["overall"]["fields_compared"] > 20  # every expected value
    night.write_bytes(wrap(nightly()).encode())
    expected.write_text(json.dumps(bundles[:2]), encoding="utf-8")
    report = _conformance(root, tmp_path)
    assert report["not_converted"] == {
        "sz_peoples_2/nightly.hl7": "the expected output holds 2 Bundles for the 3 messages of the batch"
    }
