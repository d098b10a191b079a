"""Sum a dbt census of the test suite (``STEWARD_TEST_DBT_CENSUS``, dbt_parse_cache.py) per test module.

    STEWARD_TEST_DBT_CENSUS=/tmp/census.jsonl .venv/bin/python -m pytest
    .venv/bin/python tests/dbt_parses/census.py /tmp/census.jsonl

prints the invocations, nodes and CPU seconds in all, a fit of each invocation's CPU to a fixed part plus a part per
node (what a build costs before it runs anything, and what each node adds), and the modules that spend the most CPU
in dbt, with their invocations, nodes and the share of those nodes that were data tests.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fixed_and_per_node(lines: list[dict]) -> tuple[float, float]:
    """Least squares of ``cpu_s = fixed + per_node * nodes`` over the builds and runs (parses left out)."""
    points = [(line["nodes"], line["cpu_s"]) for line in lines if line["command"] in ("build", "run")]
    n = len(points)
    if n < 2:
        return (points[0][1] if points else 0.0), 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    return mean_y - slope * mean_x, slope


def by_module(lines: list[dict]) -> list[tuple[str, int, int, int, float]]:
    """(module, invocations, nodes, data-test nodes, CPU s), most CPU first. A line with no test is a process the
    suite started outside any test (none, normally)."""
    sums: dict[str, list] = defaultdict(lambda: [0, 0, 0, 0.0])
    for line in lines:
        module = line["test"].split("::")[0] or "(no test)"
        row = sums[module]
        row[0] += 1
        row[1] += line["nodes"]
        row[2] += line.get("kinds", {}).get("test", 0)
        row[3] += line["cpu_s"]
    return sorted(((m, *row) for m, row in sums.items()), key=lambda r: -r[4])


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: census.py <census.jsonl>", file=sys.stderr)
        return 2
    lines = read(Path(argv[1]))
    fixed, per_node = fixed_and_per_node(lines)
    print(f"{len(lines)} dbt invocations, {sum(x['nodes'] for x in lines)} nodes, "
          f"{sum(x['cpu_s'] for x in lines):.0f} CPU s; a build costs ~{fixed:.2f} CPU s + {per_node * 1000:.0f} ms "
          f"a node")
    print(f"{'CPU s':>7} {'calls':>5} {'nodes':>6} {'tests':>6}  module")
    for module, calls, nodes, tests, cpu in by_module(lines)[:40]:
        print(f"{cpu:7.1f} {calls:5d} {nodes:6d} {tests:6d}  {module}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
