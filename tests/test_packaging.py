"""The wheel ships the mapping library: pyproject's data-files cover every file under mappings/."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_data_files_cover_every_mapping_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data_files: dict[str, list[str]] = config["tool"]["setuptools"]["data-files"]
    shipped: set[Path] = set()
    for target, patterns in data_files.items():
        assert target.startswith("share/hub/mappings"), target
        for pattern in patterns:
            for path in ROOT.glob(pattern):
                # Each file lands in its own directory's counterpart under share/hub/.
                assert Path(target) == Path("share/hub") / path.parent.relative_to(ROOT), (target, path)
                shipped.add(path.relative_to(ROOT))
    present = {p.relative_to(ROOT) for p in (ROOT / "mappings").rglob("*") if p.is_file()}
    assert present - shipped == set(), "mapping files a wheel would leave out (add them to data-files)"
