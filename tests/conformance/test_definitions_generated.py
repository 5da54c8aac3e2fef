"""The checked-in definitions are exactly what the generator derives from the official package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "src" / "helseflyt" / "fhir" / "definitions"


def test_definitions_regenerate_byte_identical(tmp_path: Path) -> None:
    from conftest import missing, r4_examples_package

    tgz = r4_examples_package()
    if tgz is None:
        missing("hl7.fhir.r4.examples@4.0.1 unavailable: install npm or set HELSEFLYT_R4_EXAMPLES")
    spec = importlib.util.spec_from_file_location(
        "generate_definitions", ROOT / "scripts" / "generate_definitions.py"
    )
    assert spec and spec.loader
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.main(["--package", str(tgz), "--out", str(tmp_path)]) == 0
    produced = sorted(p.name for p in tmp_path.iterdir())
    assert produced == sorted(p.name for p in DEFINITIONS.glob("*.json.gz"))
    for name in produced:
        assert (tmp_path / name).read_bytes() == (DEFINITIONS / name).read_bytes(), name
