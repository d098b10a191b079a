"""Screens an export file record by record before DuckDB reads it, so one bad record costs only itself.

DuckDB's readers give up on a whole file over one record they cannot decode: invalid UTF-8 or a 5000-deep object in
NDJSON, a stretch of junk bytes that leaves the CSV sniffer without a dialect. And its ``store_rejects`` holds every
rejected CSV line in memory (19.7 GB for a million garbage lines), with or without ``rejects_limit``. So this pass
reads the file once, streaming, in constant memory, and sets aside every record a reader would trip on or drop:

- CSV: a record (physical lines joined while a quote is open) that is not UTF-8, holds a NUL byte, is longer than
  ``MAX_RECORD_BYTES`` or has another number of fields than the header;
- NDJSON: a line that is not UTF-8, holds a NUL byte, is not a JSON object (``{...}``), is nested deeper than
  ``MAX_JSON_DEPTH``, or (``strict``, used once DuckDB has called the file malformed) does not parse.

Counts are exact; only the first ``keep`` records set aside are kept with their text, for the quarantine. When
anything was set aside the rest is written to a temporary copy, which DuckDB then reads as usual; a clean file is
read in place.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from ...contracts.batch import Rejected

__all__ = ["Screened", "screen_csv", "screen_ndjson", "MAX_RECORD_BYTES", "MAX_JSON_DEPTH", "KEEP_REJECTED"]

MAX_RECORD_BYTES = 1 << 20  # one record longer than this is junk (DuckDB's own max_line_size is 2 MB)
MAX_JSON_DEPTH = 64  # a marketing record is a few levels deep; thousands of levels is an attack or a bug
KEEP_REJECTED = 1000  # records set aside that keep their text (per file); the count is always exact
_RAW_CHARS = 2000  # text kept of one set-aside record


@dataclass
class Screened:
    """What to read (the file itself, or a clean temporary copy) and what was set aside."""

    path: Path
    records: int  # data records that passed (a CSV header is not a record)
    rejected: int = 0  # records set aside, exact
    kept: list[Rejected] = field(default_factory=list)  # the first of them, with their text
    temporary: bool = False
    strict: bool = False  # every JSON line was parsed, not only checked for shape

    def discard(self) -> None:
        """Remove the temporary copy, if one was written."""
        if self.temporary:
            self.path.unlink(missing_ok=True)


class _Sorter:
    """Counts records, keeps the first ``keep`` rejected ones, and writes the good ones once a copy is needed."""

    def __init__(self, path: Path, keep: int) -> None:
        self.path, self.keep, self.records, self.rejected, self.kept = path, keep, 0, 0, []
        self._good: list[bytes] = []  # the good records before the first reject (written out if one comes)
        self._good_bytes = 0
        self._out: BinaryIO | None = None
        self._tmp: str | None = None

    def good(self, record: bytes) -> None:
        self.records += 1
        if self._out is not None:
            self._out.write(record)
        else:  # nothing set aside yet: the file may be read in place; remember only where we are
            self._good_bytes += len(record)

    def head(self, record: bytes) -> None:
        self._good_bytes += len(record)

    def reject(self, row: int, reason: str, record: bytes) -> None:
        if self._out is None:  # the first bad record: copy what came before it, then write as we go
            fd, self._tmp = tempfile.mkstemp(prefix="steward-screen-", suffix=self.path.suffix)
            self._out = os.fdopen(fd, "wb")
            with self.path.open("rb") as src:
                _copy(src, self._out, self._good_bytes)
        self.rejected += 1
        if len(self.kept) < self.keep:
            self.kept.append(Rejected(row, reason, record[:_RAW_CHARS].decode("utf-8", "replace").rstrip("\r\n")))

    def result(self, strict: bool = False) -> Screened:
        if self._out is None:
            return Screened(self.path, self.records, strict=strict)
        self._out.close()
        return Screened(Path(self._tmp or ""), self.records, self.rejected, self.kept, temporary=True, strict=strict)


def _copy(src: BinaryIO, dst: BinaryIO, size: int) -> None:
    while size > 0:
        chunk = src.read(min(size, 1 << 20))
        if not chunk:
            break
        dst.write(chunk)
        size -= len(chunk)


def screen_csv(path: Path, keep: int = KEEP_REJECTED) -> Screened:
    """Set aside CSV records that no CSV reader could land (see the module docstring)."""
    sorter = _Sorter(path, keep)
    with path.open("rb") as fh:
        records = _csv_records(fh)
        first = next(records, None)
        if first is None:
            return sorter.result()
        _, header = first
        sorter.head(header)
        text = header.decode("utf-8", "replace").rstrip("\r\n")
        delimiter = max(",;\t|", key=text.count)
        width = len(next(csv.reader([text], delimiter=delimiter)))
        for line, record in records:
            reason = _csv_problem(record, delimiter, width)
            if reason and record.count(b"\n") > 1:  # a stray quote joined lines: judge each line on its own
                for offset, part in enumerate(record.splitlines(keepends=True)):
                    _sort_csv(sorter, line + offset, part, _csv_problem(part, delimiter, width))
            else:
                _sort_csv(sorter, line, record, reason)
    return sorter.result()


def _sort_csv(sorter: _Sorter, line: int, record: bytes, reason: str | None) -> None:
    if reason == "":
        sorter.head(record)  # a blank line: no record, and readers skip it
    elif reason is None:
        sorter.good(record)
    else:  # numbered as data rows (the header is line 1), as DuckDB's rejects were
        sorter.reject(line - 1, f"unreadable CSV record: {reason}", record)


def _csv_records(fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(first line number, bytes) of each record: physical lines joined while a double quote is open."""
    number, start, parts, size, quotes = 0, 0, [], 0, 0
    while True:
        line = fh.readline(MAX_RECORD_BYTES + 1)
        if not line:
            break
        number += 1
        if not parts:
            start = number
        parts.append(line)
        size += len(line)
        quotes += line.count(b'"')
        if quotes % 2 == 0 or size > MAX_RECORD_BYTES:
            yield start, b"".join(parts)
            parts, size, quotes = [], 0, 0
    if parts:
        yield start, b"".join(parts)


def _csv_problem(record: bytes, delimiter: str, width: int) -> str | None:
    """Why a record cannot land, None when it can, "" for a blank line."""
    if not record.strip(b"\r\n"):
        return ""
    if len(record) > MAX_RECORD_BYTES:
        return f"longer than {MAX_RECORD_BYTES:,} bytes"
    if b"\x00" in record:
        return "holds a NUL byte"
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start})"
    text = text.rstrip("\r\n")
    if '"' in text:
        if text.count('"') % 2:
            return "a quoted value is never closed"
        fields = len(next(csv.reader([text], delimiter=delimiter, strict=False), []))
    else:
        fields = text.count(delimiter) + 1
    return None if fields == width else f"{fields} fields where the header has {width}"


def screen_ndjson(path: Path, keep: int = KEEP_REJECTED, strict: bool = False) -> Screened:
    """Set aside NDJSON lines that are not one readable JSON object each (see the module docstring)."""
    sorter = _Sorter(path, keep)
    with path.open("rb") as fh:
        number = 0
        while True:
            line = fh.readline(MAX_RECORD_BYTES + 1)
            if not line:
                break
            number += 1
            if len(line) > MAX_RECORD_BYTES:
                while line and not line.endswith(b"\n"):  # skip the rest of an overlong line
                    line = fh.readline(MAX_RECORD_BYTES)
                sorter.reject(number, f"unreadable JSON line: longer than {MAX_RECORD_BYTES:,} bytes", b"")
                continue
            reason = _json_problem(line, strict)
            if reason == "":
                sorter.head(line)
            elif reason is None:
                sorter.good(line)
            else:
                sorter.reject(number, f"unreadable JSON line: {reason}", line)
    return sorter.result(strict)


def _json_problem(line: bytes, strict: bool) -> str | None:
    body = line.strip()
    if not body:
        return ""
    if b"\x00" in body:
        return "holds a NUL byte"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start})"
    if not (text.startswith("{") and text.endswith("}")):
        return "not a JSON object"
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _depth(text) > MAX_JSON_DEPTH:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if strict:
        try:
            json.loads(text)
        except ValueError as exc:
            return f"not valid JSON ({exc.msg} at column {exc.colno})"
    return None


def _depth(text: str) -> int:
    """How deep objects and arrays nest, outside strings (a scan: ``json.loads`` itself recurses)."""
    deepest = depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]":
            depth -= 1
    return deepest
