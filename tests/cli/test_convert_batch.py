"""`hub convert FILE` on a batch file (FHS/BHS … BTS/FTS): one Bundle per message, through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hub.config import Settings
from tests.support.batches import BOM, nightly, wrap


def _convert(settings: Settings, *files: Path) -> subprocess.CompletedProcess[str]:
    env = {"HUB_DATA_DIR": str(settings.data_dir), "HUB_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "convert", *map(str, files)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _patients(bundle: dict) -> list[str]:
    return [
        entry["resource"]["name"][0]["family"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "Patient"
    ]


def test_convert_prints_a_bundle_for_each_message_of_a_batch_file(settings, tmp_path):
    night = tmp_path / "results-20260316.hl7"
    night.write_bytes(BOM + wrap(nightly(sep="\r\n"), sep="\r\n").encode())  # BOM, CRLF: a Windows file
    done = _convert(settings, night)
    assert done.returncode == 0, done.stderr
    bundles = [json.loads(line) for line in done.stdout.splitlines()]  # one JSON document per line
    assert [b["resourceType"] for b in bundles] == ["Bundle"] * 3
    assert [_patients(b) for b in bundles] == [["Chen"], ["Wang"], ["Liu"]]
    assert any(e["resource"]["resourceType"] == "Observation" for e in bundles[1]["entry"])


def test_convert_refuses_a_batch_whose_count_disagrees(settings, tmp_path):
    bad = tmp_path / "truncated.hl7"
    bad.write_bytes(wrap(nightly(), count=4).encode())
    good = tmp_path / "bhs-only.hl7"
    good.write_bytes(wrap(nightly()[:1], fhs=False, sep="\n").encode())
    done = _convert(settings, bad, good)
    assert done.returncode == 1
    assert f"{bad}: BTS-1 says 4 messages, the batch holds 3: the hub would refuse this batch whole (at BTS^1^1)" in (
        done.stderr
    )
    [bundle] = [json.loads(line) for line in done.stdout.splitlines()]  # the good file is still converted
    assert _patients(bundle) == ["Chen"]
