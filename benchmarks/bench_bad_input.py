"""Memory on bad input: a garbage Salesforce contacts export ingested, peak RSS of the process that ingests it.

    python benchmarks/bench_bad_input.py --lines 50000     # quick
    python benchmarks/bench_bad_input.py                   # the issue's size: 1M garbage lines (~63 MB)

The file has the contacts header, a few good rows, and then ``--lines`` lines of random text (random field counts,
invalid UTF-8, stray quotes, NUL bytes now and then). Before the screen this peaked at 19.7 GB RSS (DuckDB's
``store_rejects`` held every rejected line). The ingest (screen, DuckDB read, contract, landing into a fresh
warehouse) runs in a fresh process, so its VmHWM is its own. Ends with one JSON line: lines, file MiB, seconds,
peak_rss_mib, and the counts the batch recorded (exact) next to the quarantine rows kept (capped).

Measured (2 loaded cores): 1M lines, 58 MiB: peak 212 MiB, 4.8 s; 1,000,100 read, 100 loaded, 1,000,000
quarantined, 1,000 kept.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import tempfile
import time
from pathlib import Path

HEADER = ("Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c,"
          "HasOptedOutOfEmail,CreatedDate,SystemModstamp")
GOOD = 100
_ALPHABET = b"abcdefghijklmnopqrstuvwxyz0123456789 ;:|/.-_"


def write_garbage(path: Path, lines: int, seed: int = 16) -> None:
    """The header, ``GOOD`` valid contacts, then ``lines`` garbage lines of about 63 bytes each."""
    rnd = random.Random(seed)
    with path.open("wb") as fh:
        fh.write(HEADER.encode() + b"\n")
        for i in range(GOOD):
            fh.write(f"003{i:015d},,Ana,Tester,a{i}@example.com,,GB,25-34,female,EMEA,false,"
                     f"2026-01-01T00:00:00.000Z,2026-11-01T00:00:00.000Z\n".encode())
        for i in range(lines):
            line = bytearray(rnd.choices(_ALPHABET, k=rnd.randint(40, 80)))
            for _ in range(rnd.randint(0, 10)):  # at most 11 fields: the header has 13
                line[rnd.randrange(len(line))] = ord(",")
            if i % 97 == 0:
                line[rnd.randrange(len(line))] = 0xFF  # not UTF-8
            if i % 101 == 0:
                line[rnd.randrange(len(line))] = ord('"')  # a quote never closed
            if i % 103 == 0:
                line[rnd.randrange(len(line))] = 0  # a NUL byte
            fh.write(bytes(line) + b"\n")


def write_well_formed_garbage(path: Path, lines: int) -> None:
    """The header, ``GOOD`` valid contacts, then ``lines`` rows with the header's 13 fields, every value wrong: the
    file parses, so the contract (not the screen) must judge every row."""
    with path.open("w") as fh:
        fh.write(HEADER + "\n")
        for i in range(GOOD):
            fh.write(f"003{i:015d},,Ana,Tester,a{i}@example.com,,GB,25-34,female,EMEA,false,"
                     "2026-01-01T00:00:00.000Z,2026-11-01T00:00:00.000Z\n")
        for i in range(lines):
            fh.write(f"x{i},y{i},{i},z,nope{i},1,QQ,old,robot,MARS,maybe,soon,later\n")


def _ingest(folder: str, out) -> None:
    from steward.flows.pull import pull_entity
    from steward.integrations.sources import ExportFilesAdapter
    from steward.integrations.warehouse import Warehouse

    wh = Warehouse(Path(folder) / "w.duckdb")
    adapter = ExportFilesAdapter("crm", "salesforce", folder, wh, entities=["contacts"])
    started = time.perf_counter()
    landed = pull_entity(adapter, adapter.streams()[0], wh, "bench")
    seconds = time.perf_counter() - started
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmHWM:"))
    with wh.connect() as con:
        read, loaded, quarantined = con.execute("select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) "
                                                "from ledger.batches").fetchone()
        kept = con.execute("select count(*) from ledger.quarantine").fetchone()[0]
    out.send({"seconds": round(seconds, 2), "peak_rss_mib": round(hwm / 1024, 1), "batches": len(landed),
              "rows_read": read, "rows_loaded": loaded, "rows_quarantined": quarantined, "quarantine_kept": kept})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="garbage lines after the good rows")
    parser.add_argument("--well-formed", action="store_true", help="rows that parse, every value wrong")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="steward-bad-input-") as folder:
        path = Path(folder) / "contacts.csv"
        (write_well_formed_garbage if args.well_formed else write_garbage)(path, args.lines)
        receive, send = mp.get_context("spawn").Pipe(duplex=False)
        child = mp.get_context("spawn").Process(target=_ingest, args=(folder, send))
        child.start()
        result = receive.recv()
        child.join()
        print(json.dumps({"lines": args.lines, "well_formed": args.well_formed, "file_mib": round(path.stat().st_size / 2**20, 1), **result}))


if __name__ == "__main__":
    main()
