"""The file-audit benchmark runs end to end at a tiny size and ends with its JSON line; the timed 721k-row run is the
benchmark's (docs/benchmarks.md), never the suite's, so nothing here depends on the machine's speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "benchmarks" / "bench_file_audit.py"


def test_bench_prints_one_json_line_with_counts_checked(tmp_path):
    res = subprocess.run([sys.executable, str(BENCH), "--rows", "3000", "--repeat", "1", "--keep", str(tmp_path)],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    line = json.loads(res.stdout.strip().splitlines()[-1])
    assert line["rows"] == 3000 and line["target_ratio"] == 2 and line["counts_match_baseline"] is True
    assert line["ratio"] == pytest.approx(line["audit_s"] / line["baseline_s"], abs=0.02)  # rounded apart
    assert line["audit_s"] > 0 and line["baseline_s"] > 0 and line["startup_s"] > 0
    # the file is built so that the two oldest bands are selected far less often: the audit finds them
    assert line["failing_groups"] >= 1 and line["proxies_tested"] >= 1
    assert (tmp_path / "decisions_3000.parquet").exists()  # --keep keeps the file
