"""A very wide export, end to end: a Salesforce contacts CSV with thousands of columns the contract does not know.

    python benchmarks/bench_wide_file.py --columns 10000           # the issue's file (issue #16, case 7)
    python benchmarks/bench_wide_file.py --columns 2000 --rows 200

The file holds the contacts contract's 13 columns plus ``columns - 13`` unknown ones (short text, a few holding
emails, phones and IP addresses), so the unknown ones land in ``_unmapped`` as JSON. Measured in one process:
  ingest = pull_entity: DuckDB's CSV reader -> contract and drift -> merge-land into a fresh DuckDB warehouse;
  scan   = scan_pii over the raw schema (every text column, and every key of ``_unmapped``).
Ends with one JSON line: columns, rows, seconds per step and in total, PII columns found, peak RSS MiB.

Measured 2026-12-05 on 2 shared cores (load 3-5), 1,000 rows: 2,000 columns 10.4 s (scan 1.6 s), 5,000 columns
36.0 s (scan 5.9 s), 10,000 columns 130.5 s (ingest 118.1 s, scan 12.4 s, peak RSS 2,353 MiB), every planted column
found. Before, the scan alone of 2,000 unmapped columns took 64 s at 30 rows and 10,000 ran past 520 s. Ingest time
goes to the CSV read, per-column type families (``schema_types.column_types``) and ``_unmapped``'s JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

HEADER = ["Id", "AccountId", "FirstName", "LastName", "Email", "Phone", "MailingCountry", "Age_Band__c", "Gender__c",
          "Region__c", "HasOptedOutOfEmail", "CreatedDate", "SystemModstamp"]
PLANTED = {"email": lambda r: f"p{r}@mail.example.org", "phone": lambda r: f"+44 20 7946 {r % 10000:04d}",
           "ip": lambda r: f"10.0.{r // 250 % 250}.{r % 250 + 1}"}


def write_export(path: Path, columns: int, rows: int) -> list[str]:
    """The CSV, and the unknown columns planted with PII (one in every 500, round robin over the kinds)."""
    extra = [f"field_{j:05d}" for j in range(max(0, columns - len(HEADER)))]
    planted = {name: kind for name, kind in zip(extra[::500], [k for _ in extra[::500] for k in PLANTED])}
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER + extra)
        for r in range(rows):
            base = [f"003{r:015d}", f"001{1:015d}", "Ann", f"Lee{r}", f"a{r}@example.com", "+1555", "US", "25-34",
                    "female", "NA", "false", "2026-01-01T00:00:00.000Z", "2026-11-01T00:00:00.000Z"]
            out.writerow(base + [PLANTED[planted[c]](r) if c in planted else f"v{r}" for c in extra])
    return sorted(planted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000)
    args = parser.parse_args(argv)

    from steward.integrations.warehouse import pii_scan
    from steward.flows.pull import pull_entity
    from steward.integrations.sources import ExportFilesAdapter
    from steward.integrations.warehouse import Warehouse

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        planted = write_export(root / "in" / "contacts.csv", args.columns, args.rows)
        wh = Warehouse(root / "w.duckdb")
        adapter = ExportFilesAdapter("crm", "salesforce", root / "in", wh, entities=["contacts"])
        start = time.perf_counter()
        [landed] = pull_entity(adapter, adapter.streams()[0], wh, "bench")
        ingested = time.perf_counter()
        found = pii_scan.scan_pii(wh, ["raw"])
        scanned = time.perf_counter()
    named = {c.column_name.removeprefix("_unmapped.") for c in found if c.content_kind}
    result = {
        "columns": args.columns, "rows": args.rows, "rows_loaded": landed.result.rows_loaded,
        "ingest_s": round(ingested - start, 2), "scan_s": round(scanned - ingested, 2),
        "total_s": round(scanned - start, 2), "planted_found": f"{len(set(planted) & named)}/{len(planted)}",
        "pii_columns": len(found), "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result))
    return 0 if set(planted) <= named else 1


if __name__ == "__main__":
    sys.exit(main())
