"""`trecsim bench-emulator`: builds the native hook (--build-only) and measures Unicorn with and without
accounting in one run. The >= 0.5 goal is checked by `bench-emulator --check`, not here: a busy CI
machine must not fail a test on timing alone."""

from __future__ import annotations

import io
import json

from emu_firmware import needs_arm_gcc
from trecsim import cli
from trecsim.emulators import native


def test_build_only_builds_the_native_hook_into_the_cache():
    out = io.StringIO()
    assert cli.main(["bench-emulator", "--build-only"], out=out) == 0
    assert str(native.library_path()) in out.getvalue() and native.library_path().is_file()


@needs_arm_gcc
def test_bench_reports_mips_of_each_mode_and_the_ratio(tmp_path):
    out = io.StringIO()
    path = tmp_path / "bench.json"
    assert cli.main(["bench-emulator", "--repeats", "1", "--json", str(path)], out=out) == 0
    doc = json.loads(path.read_text())
    assert [m["name"] for m in doc["modes"]] == ["plain", "accounting", "memory_timing"]
    assert all(m["mips"] > 0 for m in doc["modes"]) and doc["instructions"] > 10_000_000
    assert doc["ratio"] > 0 and doc["goal_ratio"] == 0.5
    assert "ratio accounting / plain" in out.getvalue()
