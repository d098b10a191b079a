"""Adapter for platform exports on disk: Salesforce CSV, HubSpot NDJSON, Google Ads CSV, CDP and log Parquet.

DuckDB's own readers parse the files (sniffing CSV dialects and types, flattening JSON objects); rows the CSV reader
cannot parse are handed back as ``Rejected`` instead of failing the whole file. Files cannot pause a campaign, so
pause and resume are recorded in the warehouse's ``ledger.campaign_controls`` ledger, which is what the demo shows.

CSV dates and times are left as text: the sniffer would read a value without an offset in the machine's time zone,
silently, and reject a whole row over a value it cannot read. The source contract reads them instead, under its
source's zone rule (``contracts/timestamps.py``), and names the column of a value that is not a timestamp.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from ..errors import SourceError
from ..ledger import confirmed_state, record_control
from ..warehouse import Warehouse
from ._protocol import Batch, ControlResult, Health, Rejected, Stream
from .streams import streams_for

__all__ = ["ExportFilesAdapter"]


class ExportFilesAdapter:
    """One integration whose data arrives as export files in one folder."""

    def __init__(self, name: str, platform: str, root: Path | str, warehouse: Warehouse | None = None,
                 entities: list[str] | None = None) -> None:
        self.name, self.platform, self.root, self.warehouse = name, platform, Path(root), warehouse
        known = {s.entity: s for s in streams_for(platform)}
        if not known:
            raise SourceError(f"integration '{name}': unknown platform '{platform}'")
        unknown = sorted(set(entities or []) - set(known))
        if unknown:
            raise SourceError(f"integration '{name}': unknown entities {unknown} for {platform}; "
                              f"known: {sorted(known)}")
        self._streams = [known[e] for e in entities] if entities else list(known.values())

    def streams(self) -> list[Stream]:
        return list(self._streams)

    def missing_files(self) -> list[Path]:
        """Required exports that are not there (optional ones may be absent)."""
        return [self.root / s.path for s in self._streams if s.required and not (self.root / s.path).is_file()]

    def pull(self, entity: str, since: datetime | None = None) -> Iterator[Batch]:
        """The whole export as one batch; ``since`` keeps only records whose cursor is newer."""
        stream = next((s for s in self._streams if s.entity == entity), None)
        if stream is None:
            raise SourceError(f"integration '{self.name}': no entity '{entity}'")
        path = self.root / stream.path
        if not path.is_file() and not stream.required:
            return
        if not path.is_file():
            raise SourceError(f"{path}: export file for {stream.key} is missing (integration '{self.name}')")
        con = duckdb.connect()
        try:
            frame, rejected = _read(con, stream, path)
        except duckdb.Error as exc:
            raise SourceError(f"{path}: cannot read as {stream.format.upper()} for {stream.key}: "
                              f"{str(exc).strip().splitlines()[0]}") from exc
        finally:
            con.close()
        if since is not None and stream.cursor in frame.columns:
            frame = frame[_instants(frame[stream.cursor]) > _instant(since)]
        # merge: a record landed before (from an older export, or through the platform's API under the same
        # integration name) is replaced by its key, never duplicated
        yield Batch(self.name, stream, frame.reset_index(drop=True), str(path), _sha256(path), rejected, merge=True)

    def probe(self) -> Health:
        now = datetime.now(timezone.utc)
        missing = self.missing_files()
        if len(missing) == len(self._streams):
            return Health(self.name, "down", f"no export files under {self.root}", now)
        if missing:
            return Health(self.name, "degraded", f"missing: {', '.join(p.name for p in missing)}", now)
        return Health(self.name, "healthy", f"{len(self._streams)} export files present", now)

    def pause(self, campaign_id: str, reason: str) -> ControlResult:
        return self._control(campaign_id, "pause", "paused", reason)

    def resume(self, campaign_id: str, reason: str) -> ControlResult:
        return self._control(campaign_id, "resume", "active", reason)

    def campaign_state(self, campaign_id: str) -> str:
        """For export files the campaign ledger is the platform: ``paused`` once a pause was written there (an open
        intent is not a change: its replaced row counts)."""
        if self.warehouse is None:
            raise SourceError(f"integration '{self.name}': no warehouse to read campaign {campaign_id} from")
        return "paused" if confirmed_state(self.warehouse, self.name, campaign_id) == "paused" else "active"

    def _control(self, campaign_id: str, action: str, state: str, reason: str) -> ControlResult:
        if self.warehouse is None:
            raise SourceError(f"integration '{self.name}': no warehouse to record a {action} in")
        if confirmed_state(self.warehouse, self.name, campaign_id) == state:
            return ControlResult(self.name, campaign_id, action, False, f"already {state}")  # type: ignore[arg-type]
        record_control(self.warehouse, self.name, campaign_id, state, reason)
        return ControlResult(self.name, campaign_id, action, True, f"{state} in the campaign ledger")  # type: ignore[arg-type]


# what the CSV sniffer may type a column as: no DATE, TIME or TIMESTAMP (see the module docstring)
_CSV_TYPES = "['BOOLEAN', 'BIGINT', 'DOUBLE', 'VARCHAR']"


def _read(con: duckdb.DuckDBPyConnection, stream: Stream, path: Path):
    p = path.as_posix().replace("'", "''")
    rejected: list[Rejected] = []
    if stream.format == "csv":
        rel = con.sql(f"select * from read_csv('{p}', header = true, store_rejects = true, "
                      f"auto_type_candidates = {_CSV_TYPES})")
        frame = rel.df()
        rejects = con.execute("select line, min(error_message), min(csv_line) from reject_errors "
                              "group by line order by line").fetchall()  # one entry per bad line, not per column
        for line, msg, raw in rejects:
            rejected.append(Rejected(int(line) - 1, f"unparseable CSV row: {msg}", raw or ""))
    elif stream.format == "json":
        rel = con.sql(f"select * from read_json('{p}', format = 'newline_delimited')")
        if stream.flatten and stream.flatten in rel.columns:
            rel = con.sql(f"select * exclude ({stream.flatten}), unnest({stream.flatten}) from rel")
        frame = rel.df()
    else:
        frame = con.sql(f"select * from read_parquet('{p}')").df()
    return frame, rejected


def _instants(values: pd.Series) -> pd.Series:
    """A cursor column as UTC instants for the ``since`` filter (text from CSV; a value without an offset is UTC)."""
    return pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")


def _instant(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
