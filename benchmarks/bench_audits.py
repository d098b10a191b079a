"""The old name of the scale benchmark, kept so existing commands still run: it is ``bench_scale.py``.

    python benchmarks/bench_audits.py --customers 100000 --events 1000000
    = python benchmarks/bench_scale.py --contacts 100000 --events 1000000

It used to land the demo, copy its rows inside the warehouse and compare `dbt run` with the same compiled SQL run
without dbt (a ratio near 1 that said nothing about whether the SQL was good). ``bench_scale.py`` builds the stack as
export files instead, times whole `steward run` processes (first landing, governance, daily delta) and compares with
a floor of what DuckDB needs to read the raw tables once; see docs/benchmarks.md. Every other option is passed on.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scale  # noqa: E402


def translate(argv: list[str]) -> list[str]:
    """``--customers`` is ``--contacts`` now (both spellings, ``--customers N`` and ``--customers=N``)."""
    return [("--contacts" + a[len("--customers"):]) if a.split("=")[0] == "--customers" else a for a in argv]


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *translate(sys.argv[1:])]
    bench_scale.main()
