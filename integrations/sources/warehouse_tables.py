"""Reads platform tables an ELT tool (Fivetran, Airbyte) already synced into DuckDB or PostgreSQL.

Many teams already sync Salesforce and HubSpot into their warehouse; reading those tables spares the platform's API
quota and a second set of credentials. Each tool names things its own way, so the naming is data (``CONVENTIONS``),
and the adapter maps the synced columns back to the export streams' columns: contracts, raw tables and dbt staging
stay exactly as for export files. The tool's sync timestamp is the watermark (rows synced at or after it are read
again and merge by key) and its deleted marker becomes tombstones instead of rows.

An integration's ``mappings`` (``contracts/mapping.py``) read any entity, a custom one included, from a table or view
it names (``table: schema.table``, validated as identifiers and quoted, never pasted), or remap the columns of a
convention's table. The rows are read as they are stored, ``batch_rows`` at a time, and each batch goes through the
mapping's projection in a locked in-memory DuckDB (``mapping.project_frame``), so a PostgreSQL source needs no
second SQL dialect for the mapping. A mapped table with the convention's sync column is read incrementally by it;
one without (a view, a table a team maintains itself) is read whole on every pull and merges by key.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import pandas as pd
import pyarrow as pa

from ...contracts.registry import contract_for
from ...contracts.errors import ConfigError, SourceError
from ...contracts.batch import Batch, Stream
from ...contracts.mapping import EntityMapping
from .mapping import check_columns, project_frame
from ._protocol import ControlResult, Health
from ._records import DEFAULT_BATCH_ROWS
from .streams import streams_for

__all__ = ["WarehouseTablesAdapter", "Convention", "CONVENTIONS", "fivetran_column"]

# HubSpot objects keep most fields in ``properties``; the export flattens them, the ELT tools prefix them.
_HUBSPOT_TOP_LEVEL = {"id", "createdAt", "updatedAt", "archived"}
_NULLABLE = {pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
             pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
_EPOCH_MS = "cast(round(extract(epoch from {c}) * 1000) as bigint)"  # valid in DuckDB and PostgreSQL


def fivetran_column(api_name: str) -> str:
    """``SystemModstamp`` -> ``system_modstamp``, ``Age_Band__c`` -> ``age_band_c`` (Fivetran's rule)."""
    name = re.sub(r"__c$", "_c", api_name)
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return re.sub(r"_+", "_", name)


@dataclass(frozen=True)
class Convention:
    """How one ELT tool names an entity's table and columns, and where it keeps sync time and deletions."""

    name: str
    synced: str  # the sync timestamp column: the watermark
    deleted: str  # the deletion marker, used when the table has it
    deleted_when: str  # SQL predicate over the marker ({c}): a flag, or a timestamp that is set
    tool_prefixes: tuple[str, ...]  # the tool's own bookkeeping columns
    tables: dict[str, str]  # "<platform>.<entity>" -> table
    column: Callable[[str], str]  # API field name -> column name
    property_prefix: str  # HubSpot ``properties.<name>`` -> column
    overrides: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # stream -> {field: (column, sql)}


CONVENTIONS: dict[str, Convention] = {
    "fivetran": Convention(
        "fivetran", "_fivetran_synced", "_fivetran_deleted", "coalesce({c}, false)", ("_fivetran_",),
        {"salesforce.contacts": "contact", "salesforce.leads": "lead", "salesforce.accounts": "account",
         "salesforce.opportunities": "opportunity", "salesforce.campaigns": "campaign",
         "salesforce.campaign_members": "campaign_member", "hubspot.contacts": "contact",
         "hubspot.email_events": "email_event"},
        fivetran_column, "property_",
        {"hubspot.contacts": {"createdAt": ("property_createdate", "{c}"),
                              "updatedAt": ("property_lastmodifieddate", "{c}"),
                              "archived": ("_fivetran_deleted", "coalesce({c}, false)")},
         "hubspot.email_events": {"created": ("created", _EPOCH_MS)}}),  # Fivetran lands epoch ms as a timestamp
    "airbyte": Convention(
        "airbyte", "_airbyte_extracted_at", "_ab_cdc_deleted_at", "{c} is not null", ("_airbyte_", "_ab_"),
        {"salesforce.contacts": "Contact", "salesforce.leads": "Lead", "salesforce.accounts": "Account",
         "salesforce.opportunities": "Opportunity", "salesforce.campaigns": "Campaign",
         "salesforce.campaign_members": "CampaignMember", "hubspot.contacts": "contacts",
         "hubspot.email_events": "email_events"},
        lambda api_name: api_name, "properties_"),
}


class WarehouseTablesAdapter:
    """One platform's ELT-synced tables. Options: ``convention`` (fivetran|airbyte), ``schema`` (default: the
    platform name, Fivetran's schema per connector)."""

    incremental = True

    def __init__(self, name: str, platform: str, *, path: Path | str | None = None, dsn: str | None = None,
                 entities: list[str] | None = None, options: dict[str, Any] | None = None,
                 batch_rows: int | None = None, mappings: dict[str, EntityMapping] | None = None) -> None:
        opts = options or {}
        self.name, self.platform, self.batch_rows = name, platform, batch_rows or DEFAULT_BATCH_ROWS
        if (path is None) == (dsn is None):
            raise ConfigError(f"integration '{name}': warehouse_tables needs exactly one of path (a DuckDB file) "
                              f"or a postgresql:// dsn")
        self.path, self.dsn = (Path(path) if path is not None else None), dsn
        convention = str(opts.get("convention", "fivetran"))
        if convention not in CONVENTIONS:
            raise ConfigError(f"integration '{name}': options.convention '{convention}' is not one of "
                              f"{sorted(CONVENTIONS)}")
        self.convention, self.schema = CONVENTIONS[convention], str(opts.get("schema", platform))
        self._own_schema = "schema" in opts
        self.mappings = dict(mappings or {})
        for entity, mapping in self.mappings.items():
            if mapping.table is None and f"{platform}.{entity}" not in self.convention.tables:
                raise ConfigError(f"integration '{name}': mappings.{entity} needs 'table': {convention} tables hold "
                                  f"no {platform}.{entity}")
        known = {s.entity: s for s in streams_for(platform)
                 if s.key in self.convention.tables or getattr(self.mappings.get(s.entity), "table", None)}
        unknown = sorted(set(entities or []) - set(known))
        if not known or unknown:
            raise ConfigError(f"integration '{name}': {convention} tables hold no {platform} entity "
                              f"{unknown or ''}; known: {sorted(known)}")
        self._streams = [known[e] for e in (entities or known)]

    # -- SourceAdapter ---------------------------------------------------------------------------------------------
    def streams(self) -> list[Stream]:
        return list(self._streams)

    def pull(self, entity: str, since: datetime | str | None = None) -> Iterator[Batch]:
        """Rows synced at or after ``since``, in sync order, ``batch_rows`` at a time; deleted rows as tombstones."""
        stream = next((s for s in self._streams if s.entity == entity), None)
        if stream is None:
            raise SourceError(f"integration '{self.name}': no entity '{entity}'")
        if entity in self.mappings:
            yield from self._pull_mapped(stream, self.mappings[entity], since)
            return
        with self._connect() as db:
            table = self._table(stream)
            sql, params = self._select(stream, db.columns(self.schema, table), table, since)
            for chunk in db.stream(sql, params, self.batch_rows):
                yield self._batch(stream, table, chunk)

    def probe(self) -> Health:
        now = datetime.now(timezone.utc)
        try:
            with self._connect() as db:
                for stream in self._streams:
                    if getattr(self.mappings.get(stream.entity), "table", None):
                        schema, table = self._mapped_table(self.mappings[stream.entity], db)
                        if not db.columns(schema, table):
                            raise SourceError(f"integration '{self.name}': table {schema}.{table} not found in "
                                              f"{self._where()} (mappings.{stream.entity}.table)")
                        continue
                    self._required(stream, db.columns(self.schema, self._table(stream)), self._table(stream))
        except (SourceError, ConfigError) as exc:
            return Health(self.name, "down", str(exc), now)
        return Health(self.name, "healthy", f"{len(self._streams)} {self.convention.name} tables readable in "
                                            f"{self._where()}", now)

    def pause(self, campaign_id: str, reason: str) -> ControlResult:
        raise SourceError(f"integration '{self.name}': a warehouse-tables source is read-only and cannot pause "
                          f"campaign {campaign_id}; configure the {self.platform} API integration for control")

    resume = pause

    # -- a configured mapping ------------------------------------------------------------------------------------
    def _pull_mapped(self, stream: Stream, mapping: EntityMapping, since: datetime | str | None) -> Iterator[Batch]:
        """The mapped entity's rows: from its own ``table``, or from the convention's table as the convention reads
        it, each batch through the mapping's projection. A column the mapping reads that the table lacks stops the
        entity before any row is read (``MappingColumnMissing``)."""
        with self._connect() as db:
            if mapping.table is not None:
                schema, table = self._mapped_table(mapping, db)
                present = db.columns(schema, table)
                if not present:
                    raise SourceError(f"integration '{self.name}': table {schema}.{table} not found in "
                                      f"{self._where()} (mappings.{stream.entity}.table)")
                check_columns(mapping, stream.entity, present, f"{self._where()}#{schema}.{table}")
                sql, params = self._select_table(stream, mapping, schema, table, present, since)
            else:
                schema, table = self.schema, self._table(stream)
                sql, params = self._select(stream, db.columns(schema, table), table, since)
                named = [n for n, (col, _) in self._sources(stream).items() if col in db.columns(schema, table)]
                check_columns(mapping, stream.entity, named, f"{self._where()}#{schema}.{table}")
            for chunk in db.stream(sql, params, self.batch_rows):
                frame = project_frame(mapping, stream.key, chunk, ("__synced", "__deleted"),
                                      f"{self._where()}#{schema}.{table}")
                yield self._batch(stream, table, frame, schema)

    def _mapped_table(self, mapping: EntityMapping, db: "_DuckDB | _Postgres") -> tuple[str, str]:
        """(schema, table) of a mapped ``table``; without a schema, the integration's ``options.schema`` when set,
        else the database's default (``main`` in DuckDB, ``public`` in PostgreSQL)."""
        schema, _, table = str(mapping.table).rpartition(".")
        return schema or (self.schema if self._own_schema else db.default_schema), table

    def _select_table(self, stream: Stream, mapping: EntityMapping, schema: str, table: str, present: list[str],
                      since: datetime | str | None) -> tuple[str, list[Any]]:
        """Only the columns the projection reads, with the convention's sync column and deleted marker when the
        table has them (then read incrementally, in sync order), else read whole."""
        q, conv = _quote, self.convention
        wanted = {c.lower() for c in mapping.source_columns()} | {c.lower() for c in contract_for(stream.key).columns()}
        columns = [c for c in present if c.lower() in wanted] or present[:1]
        synced = q(conv.synced) if conv.synced in present else None
        deleted = conv.deleted_when.format(c=q(conv.deleted)) if conv.deleted in present else "false"
        where, params = ("", []) if since is None or synced is None else (f" where {synced} >= ?", [_parse_ts(since)])
        keys = [spec.column if spec is not None and spec.column else k
                for k, spec in ((k, mapping.columns.get(k)) for k in stream.primary_key.split(","))]
        order = [synced] if synced else []
        order += [q(k) for k in keys if k in present]
        sql = (f"select {', '.join(q(c) for c in columns)}, {synced or 'null'} as __synced, {deleted} as __deleted "
               f"from {q(schema)}.{q(table)}{where}" + (f" order by {', '.join(order)}" if order else ""))
        return sql, params

    # -- mapping ---------------------------------------------------------------------------------------------------
    def _table(self, stream: Stream) -> str:
        return self.convention.tables[stream.key]

    def _sources(self, stream: Stream) -> dict[str, tuple[str, str]]:
        """Export column -> (synced column, SQL template over it), in the contract's column order."""
        conv, overrides = self.convention, self.convention.overrides.get(stream.key, {})
        out = {}
        for name in contract_for(stream.key).columns():
            if name in overrides:
                out[name] = overrides[name]
            elif stream.flatten and name not in _HUBSPOT_TOP_LEVEL:
                out[name] = (conv.property_prefix + name, "{c}")
            else:
                out[name] = (conv.column(name), "{c}")
        return out

    def _required(self, stream: Stream, present: list[str], table: str) -> None:
        """The key, the cursor and the sync column must be there; another missing column is drift, as for files."""
        if not present:
            raise SourceError(f"integration '{self.name}': table {self.schema}.{table} not found in {self._where()} "
                              f"({self.convention.name} naming for {stream.key}); check options.schema/convention")
        sources = self._sources(stream)
        needed = [sources[k][0] for k in [*stream.primary_key.split(","), stream.cursor] if k in sources]
        for column in [*needed, self.convention.synced]:
            if column not in present:
                raise SourceError(f"integration '{self.name}': table {self.schema}.{table} has no column "
                                  f"'{column}' (needed for {stream.key}); found {', '.join(present[:8])}")

    def _select(self, stream: Stream, present: list[str], table: str, since: datetime | str | None
                ) -> tuple[str, list[Any]]:
        self._required(stream, present, table)
        conv, q = self.convention, _quote
        exprs = [f"{sql.format(c=q(col))} as {q(name)}" for name, (col, sql) in self._sources(stream).items()
                 if col in present]
        deleted = conv.deleted_when.format(c=q(conv.deleted)) if conv.deleted in present else "false"
        keys = ", ".join(q(self._sources(stream)[k][0]) for k in stream.primary_key.split(","))
        where, params = ("", []) if since is None else (f" where {q(conv.synced)} >= ?", [_parse_ts(since)])
        sql = (f"select {', '.join(exprs)}, {q(conv.synced)} as __synced, {deleted} as __deleted "
               f"from {q(self.schema)}.{q(table)}{where} order by {q(conv.synced)}, {keys}")
        return sql, params

    def _batch(self, stream: Stream, table: str, chunk: pd.DataFrame, schema: str | None = None) -> Batch:
        gone = chunk["__deleted"].fillna(False).astype(bool)
        keys = stream.primary_key.split(",")
        deleted = sorted({",".join(map(str, k)) for k in chunk.loc[gone, keys].itertuples(index=False)})
        synced = pd.to_datetime(chunk["__synced"], utc=True).max()
        frame = chunk.loc[~gone].drop(columns=["__synced", "__deleted"]).reset_index(drop=True)
        digest = hashlib.sha256(stream.key.encode())
        digest.update(pd.util.hash_pandas_object(frame.astype("string"), index=False).values.tobytes())
        digest.update("\x1f".join(deleted).encode())
        return Batch(self.name, stream, frame, f"{self._where()}#{schema or self.schema}.{table}", digest.hexdigest(),
                     watermark=None if pd.isna(synced) else synced.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), merge=True,
                     deleted=deleted)

    # -- connections -----------------------------------------------------------------------------------------------
    def _where(self) -> str:
        return str(self.path) if self.path is not None else _redact(self.dsn or "")

    @contextmanager
    def _connect(self) -> Iterator["_DuckDB | _Postgres"]:
        db = _DuckDB(self.name, self.path) if self.path is not None else _Postgres(self.name, self.dsn or "")
        try:
            yield db
        finally:
            db.close()


class _DuckDB:
    """A DuckDB file opened read-only: the ELT tool may be writing it, Steward never does."""

    default_schema = "main"

    def __init__(self, integration: str, path: Path) -> None:
        if not path.is_file():
            raise SourceError(f"integration '{integration}': warehouse file {path} does not exist")
        self.con = duckdb.connect(str(path), read_only=True)
        self.con.execute("set TimeZone = 'UTC'")

    def columns(self, schema: str, table: str) -> list[str]:
        return [r[0] for r in self.con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position", [schema, table]).fetchall()]

    def stream(self, sql: str, params: list[Any], rows: int) -> Iterator[pd.DataFrame]:
        relation = self.con.sql(sql, params=params)
        reader = relation.to_arrow_reader(rows) if hasattr(relation, "to_arrow_reader") else (
            relation.fetch_arrow_reader(rows))  # duckdb < 1.4 spells it this way
        for batch in reader:
            if batch.num_rows:  # nullable ints and booleans stay themselves instead of turning float / object
                yield batch.to_pandas(types_mapper=_NULLABLE.get)

    def close(self) -> None:
        self.con.close()


class _Postgres:
    """A PostgreSQL warehouse through psycopg, read with a server-side cursor so memory stays one batch deep."""

    default_schema = "public"

    def __init__(self, integration: str, dsn: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise ConfigError(f"integration '{integration}': reading PostgreSQL needs psycopg "
                              f"(pip install 'psycopg[binary]')") from None
        try:
            self.con = psycopg.connect(dsn, autocommit=False)
        except psycopg.Error as exc:
            raise SourceError(f"integration '{integration}': cannot connect to {_redact(dsn)}: "
                              f"{str(exc).strip().splitlines()[0]}") from None
        self.con.execute("set transaction read only")
        self.con.execute("set time zone 'UTC'")

    def columns(self, schema: str, table: str) -> list[str]:
        return [r[0] for r in self.con.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
            "order by ordinal_position", [schema, table]).fetchall()]

    def stream(self, sql: str, params: list[Any], rows: int) -> Iterator[pd.DataFrame]:
        with self.con.cursor(name="steward_pull") as cur:
            cur.itersize = rows
            cur.execute(sql.replace("?", "%s"), params)
            names = [d.name for d in cur.description or []]
            while chunk := cur.fetchmany(rows):  # pd.array keeps a nullable bigint Int64 (not float with NaN)
                yield pd.DataFrame({n: pd.array([r[i] for r in chunk]) for i, n in enumerate(names)})

    def close(self) -> None:
        self.con.rollback()
        self.con.close()


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _parse_ts(value: datetime | str) -> datetime:
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


def _redact(dsn: str) -> str:
    """A DSN without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", re.sub(r"password=\S+", "password=***", dsn))
