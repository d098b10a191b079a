"""The scale benchmark's stack: the demo workspace's export files, amplified in DuckDB to a requested size.

``build_stack(root, contacts, events)`` writes ``root/demo`` (the demo workspace at scale 1, with its steward.yaml)
and ``root/stack`` (the same exports, copied until they hold the requested numbers, with the same steward.yaml).
Copy ``k`` of a record rewrites every person identifier and address so that copies are new people, never duplicates:

- people (Salesforce contacts, leads and campaign members, HubSpot contacts and subscriptions, CDP profiles, erasure
  requests, Customer Match uploads) are copied ``ceil(contacts / 3000)`` times;
- email events, AI decisions and paid campaigns (their Google Ads days, Salesforce campaign and opportunities) are
  copied ``ceil(events / 148k)`` times, and copy ``k`` of an event or decision belongs to copy ``k mod people_copies``
  of its person, so every injected problem (a send after an unsubscribe, an unreviewed decision, an overspending
  campaign) recurs once per copy, at the demo's rate;
- accounts, the HubSpot marketing emails and the email campaigns stay as they are (copies join to them).

Copy 0 is the demo's own data, byte for byte in every value. Identifiers keep their formats so the source contracts
pass them: a Salesforce id keeps its 3-character prefix and 15 digits, a HubSpot id and a Google Ads campaign id stay
digits, an address gets ``+c<k>`` before its ``@``, and a SHA-256 of an address (uploads, erasure requests) is the hash
of the copy's address. Everything is SQL over the files (no row passes through Python), so 10M events take seconds.

``write_delta(stack, ...)`` writes a day's change as incremental exports (see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from steward.flows.demo import prepare_demo
from steward.integrations.demo.generator import BASE_PEOPLE
from steward.integrations.sources.streams import EXPORT_STREAMS

__all__ = ["Stack", "build_stack", "write_delta", "raw_sizes", "copies_for", "SF_STRIDE"]

SF_STRIDE = 10_000_000  # a Salesforce id's number grows by this per copy (the demo's numbers stay below it)
HS_STRIDE = 1_000_000  # HubSpot contact ids (51000 + person)
ADS_STRIDE = 1_000  # Google Ads campaign ids (9_000_000_000 + campaign key)


@dataclass
class Stack:
    root: Path
    config: Path  # the amplified stack's steward.yaml
    demo_config: Path  # the scale-1 demo's steward.yaml, for comparing findings
    as_of: pd.Timestamp
    people_copies: int
    event_copies: int
    sizes: dict[str, int] = field(default_factory=dict)  # "<platform>.<entity>" -> rows in its export file

    @property
    def exports(self) -> Path:
        return self.config.parent / "exports"


def copies_for(contacts: int, events: int, base_events: int, base_people: int = BASE_PEOPLE) -> tuple[int, int]:
    """(people copies, event copies) for the requested numbers: at least one of each."""
    return max(1, math.ceil(contacts / base_people)), max(1, math.ceil(events / base_events))


def _say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def build_stack(root: Path, contacts: int, events: int, seed: int = 7, scale: float = 1.0) -> Stack:
    """The demo under ``root/demo``, amplified into ``root/stack`` (``scale`` below 1 only for tests: the demo at
    scale 1 is what the stack's findings are compared with)."""
    demo_config, ws = prepare_demo(root / "demo", scale=scale, seed=seed)
    people, evs = copies_for(contacts, events, ws.counts["hubspot.email_events"], ws.counts["hubspot.contacts"])
    out = root / "stack"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo_config, out / "steward.yaml")  # paths in it are relative: exports/<platform>
    stack = Stack(root, out / "steward.yaml", demo_config, ws.as_of, people, evs)
    _say(f"demo workspace at scale {scale:g} ({sum(ws.counts.values()):,} records); "
         f"copying people x{people}, events x{evs}")
    con = _connect()
    try:
        con.execute(f"create table p(k) as select range from range({people})")
        con.execute(f"create table e(k, j) as select range, range % {people} from range({evs})")
        _email_hashes(con, ws.exports)
        for key, sql in _plans(con, ws.exports).items():
            platform, entity = key.split(".")
            stream = next(s for s in EXPORT_STREAMS if s.platform == platform and s.entity == entity)
            target = out / "exports" / platform / stream.path
            target.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"copy ({sql}) to '{_q(target)}' ({_format(stream.format)})")
            stack.sizes[key] = _rows(con, target, stream.format)
            _say(f"wrote {key}: {stack.sizes[key]:,} rows")
    finally:
        con.close()
    return stack


# ---- value rewrites for copy k (k = 0 leaves the value as it is) -------------------------------------------------

def _sf(col: str, k: str = "k") -> str:
    """A Salesforce id: same 3-character prefix, the 15-digit number moved up by k strides."""
    return (f"case when {k} = 0 or {col} is null then {col} else left({col}, 3) || "
            f"lpad(cast(cast(substr({col}, 4) as bigint) + {k} * {SF_STRIDE} as varchar), 15, '0') end")


def _num(col: str, stride: int, k: str = "k") -> str:
    """An id of digits (HubSpot, Google Ads), kept digits: moved up by k strides."""
    return f"cast(cast({col} as bigint) + {k} * {stride} as varchar)"


def _mail(col: str, k: str = "k") -> str:
    return f"case when {k} = 0 then {col} else replace({col}, '@', '+c' || {k} || '@') end"


def _tag(col: str, k: str = "k") -> str:
    """Any other text id: a suffix per copy."""
    return f"case when {k} = 0 or {col} is null then {col} else {col} || '-c' || {k} end"


def _name(col: str, k: str = "k") -> str:
    return f"case when {k} = 0 then {col} else {col} || ' - copy ' || {k} end"


def _hash(col: str, k: str = "k") -> str:
    """The SHA-256 of copy k's address when the hash is a known person's; else a new hash nobody has."""
    return (f"case when {k} = 0 then {col} else coalesce((select sha256(lower(trim({_mail('h.email', k)}))) "
            f"from hashes h where h.hash = {col}), sha256({col} || '-c' || {k})) end")


def _email_hashes(con: duckdb.DuckDBPyConnection, exports: Path) -> None:
    """Every address the demo's people have, by its SHA-256 (how uploads and erasure requests name people)."""
    con.execute(f"""create table hashes as
        select distinct sha256(lower(trim(email))) as hash, email from (
            select Email as email from read_csv('{_q(exports / "salesforce/contacts.csv")}', all_varchar = true)
            union all select Email from read_csv('{_q(exports / "salesforce/leads.csv")}', all_varchar = true)
            union all select email from read_parquet('{_q(exports / "cdp/profiles.parquet")}'))
        where email is not null""")


def _plans(con: duckdb.DuckDBPyConnection, exports: Path) -> dict[str, str]:
    """One SELECT per export file: what the amplified file holds."""
    def sf(name: str) -> str:
        return f"read_csv('{_q(exports / 'salesforce' / name)}', all_varchar = true, header = true)"

    paid = f"(select Id from {sf('campaigns.csv')} where Google_Ads_Campaign_Id__c is not null)"
    hs_contacts = _json(con, exports / "hubspot/contacts.jsonl")
    props = _struct_fields(con, hs_contacts, "properties")
    prop_sql = ", ".join(
        f'"{f}" := ' + ({"email": _mail("properties.email", "p.k"),
                         "salesforcecontactid": _sf("properties.salesforcecontactid", "p.k"),
                         "salesforceleadid": _sf("properties.salesforceleadid", "p.k")}.get(f, f'properties."{f}"'))
        for f in props)
    ads = f"read_csv('{_q(exports / 'google_ads/campaign_stats.csv')}', all_varchar = true, header = true)"
    uploads = f"read_csv('{_q(exports / 'google_ads/audience_uploads.csv')}', all_varchar = true, header = true)"
    cdp = lambda name: f"read_parquet('{_q(exports / 'cdp' / name)}')"  # noqa: E731
    decisions = f"read_parquet('{_q(exports / 'decisions/ai_decisions.parquet')}')"
    decision_cols = [r[0] for r in con.execute(f"describe select * from {decisions}").fetchall()]
    return {
        "salesforce.accounts": f"select * from {sf('accounts.csv')}",
        "salesforce.contacts": _copy(sf("contacts.csv"), "p", {"Id": _sf("Id", "p.k"), "Email": _mail("Email", "p.k")}),
        "salesforce.leads": _copy(sf("leads.csv"), "p", {"Id": _sf("Id", "p.k"), "Email": _mail("Email", "p.k")}),
        "salesforce.campaign_members": _copy(sf("campaign_members.csv"), "p", {
            "Id": _sf("Id", "p.k"), "ContactId": _sf("ContactId", "p.k"), "LeadId": _sf("LeadId", "p.k")}),
        # paid campaigns are copied with the events (their ad days are event-grain); email campaigns stay one each,
        # and so do the opportunities of email campaigns
        "salesforce.campaigns": _copy(sf("campaigns.csv"), "e", {
            "Id": _sf("Id", "e.k"), "Name": _name("Name", "e.k"),
            "Google_Ads_Campaign_Id__c": _num("Google_Ads_Campaign_Id__c", ADS_STRIDE, "e.k")},
            where="e.k = 0 or Google_Ads_Campaign_Id__c is not null"),
        "salesforce.opportunities": _copy(sf("opportunities.csv"), "e", {
            "Id": _sf("Id", "e.k"), "CampaignId": _sf("CampaignId", "e.k")}, where=f"e.k = 0 or CampaignId in {paid}"),
        "hubspot.contacts": _copy(hs_contacts, "p", {"id": _num("id", HS_STRIDE, "p.k"),
                                                     "properties": f"struct_pack({prop_sql})"}),
        "hubspot.subscriptions": _copy(_json(con, exports / "hubspot/subscriptions.jsonl"), "p",
                                       {"recipient": _mail("recipient", "p.k")}),
        "hubspot.marketing_emails": f"select * from {_json(con, exports / 'hubspot/marketing_emails.jsonl')}",
        "hubspot.email_events": _copy(_json(con, exports / "hubspot/email_events.jsonl"), "e", {
            "id": _tag("id", "e.k"), "recipient": _mail("recipient", "e.j")}),
        "google_ads.campaign_stats": _copy(ads, "e", {"campaign.id": _num('"campaign.id"', ADS_STRIDE, "e.k"),
                                                      "campaign.name": _name('"campaign.name"', "e.k")}),
        "google_ads.audience_uploads": _copy(uploads, "p", {
            "user_identifiers.hashed_email": _hash('"user_identifiers.hashed_email"', "p.k")}),
        "cdp.profiles": _copy(cdp("profiles.parquet"), "p", {
            "profile_id": _tag("profile_id", "p.k"), "user_id": _sf("user_id", "p.k"), "email": _mail("email", "p.k")}),
        "cdp.erasure_requests": _copy(cdp("erasure_requests.parquet"), "p", {
            "request_id": _tag("request_id", "p.k"), "email_sha256": _hash("email_sha256", "p.k")}),
        "decisions.ai_decisions": _copy(decisions, "e", {
            "decision_id": _tag("decision_id", "e.k"), "subject_id": _sf("subject_id", "e.j"),
            "input_snapshot_id": _tag("input_snapshot_id", "e.k"),
            **({"debug_contact_email": _mail("debug_contact_email", "e.j")} if "debug_contact_email" in decision_cols
               else {})}),
    }


def _copy(source: str, copies: str, rewrites: dict[str, str], where: str = "") -> str:
    """Every row of ``source`` once per row of the copy table (``p``: k; ``e``: k and its person copy j)."""
    drop = "k, j" if copies == "e" else "k"
    replace = ", ".join(f'{expr} as "{col}"' for col, expr in rewrites.items())
    sql = f"select * exclude ({drop}) replace ({replace}) from {source}, {copies}"
    return sql + (f" where {where}" if where else "")


def _json(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """read_json of an NDJSON export with every date-like string kept as text, so values come back as written."""
    rel = con.sql(f"select * from read_json('{_q(path)}', format = 'newline_delimited')")
    cols = ", ".join(f"'{n}': '{_texty(t)}'" for n, t in zip(rel.columns, rel.types))
    return f"read_json('{_q(path)}', format = 'newline_delimited', columns = {{{cols}}})"


def _texty(t: duckdb.typing.DuckDBPyType) -> str:
    if t.id == "struct":
        return "STRUCT(" + ", ".join(f'"{n}" {_texty(c)}' for n, c in t.children) + ")"
    if t.id in ("date", "time", "timestamp", "timestamp with time zone", "uuid", "timestamp_ns", "timestamp_ms"):
        return "VARCHAR"
    return str(t)


def _struct_fields(con: duckdb.DuckDBPyConnection, source: str, col: str) -> list[str]:
    t = dict(zip(con.sql(f"select * from {source}").columns, con.sql(f"select * from {source}").types))[col]
    return [n for n, _ in t.children]


def _format(fmt: str) -> str:
    return {"csv": "format csv, header true", "json": "format json", "parquet": "format parquet"}[fmt]


def _rows(con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> int:
    reader = {"csv": "read_csv", "parquet": "read_parquet"}.get(fmt)
    if fmt == "json":  # count lines, not parse them
        return con.execute(f"select count(*) from read_csv('{_q(path)}', columns = {{'l': 'VARCHAR'}}, "
                           f"header = false, delim = '\\0', quote = '', escape = '')").fetchone()[0]
    return con.execute(f"select count(*) from {reader}('{_q(path)}')").fetchone()[0]


def _connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that stays within a shared machine's share (it spills to a temporary folder beyond)."""
    con = duckdb.connect(config={"memory_limit": "4GB"})
    con.execute("set enable_progress_bar = false")
    # an export file's row order means nothing (a run lands it whole, by key), and keeping it made the copy of 20M
    # email events to JSON ask for one 4 GiB block at 2M contacts, past the limit; unordered, it streams (~0.7 GiB)
    con.execute("set preserve_insertion_order = false")
    return con


def _q(path: Path) -> str:
    return path.as_posix().replace("'", "''")


# ---- the daily delta --------------------------------------------------------------------------------------------

def write_delta(stack: Stack, new_events: float = 0.01, changed_people: float = 0.005,
                mode: str = "incremental") -> dict[str, int]:
    """A day's change. ``incremental``: each changed entity's file is replaced by only its new or changed rows (what
    a "modified since the last export" job writes); ``snapshot``: by the whole entity as it is now (a full export:
    the old rows, changed ones replaced, new ones added). Every other file is left as it was.

    - ``new_events`` of the email events arrive: engagement events (DELIVERED, OPEN, CLICK...) of sends already in
      the warehouse, with new ids, so no send, consent or erasure problem is added or removed;
    - ``changed_people`` of the Salesforce contacts and leads, HubSpot contacts and CDP profiles change a harmless
      field (a first name, a profile re-synced), stamped with the newest modification time already in their file,
      so freshness and every finding stay as they were.
    Returns rows per rewritten file."""
    ex = stack.exports
    con = _connect()
    written: dict[str, int] = {}
    try:
        total = con.execute(f"select count(*) from {_json(con, ex / 'hubspot/email_events.jsonl')}").fetchone()[0]
        plans = {
            "hubspot.email_events": f"""select * replace (id || '-d1' as id) from (
                select * from {_json(con, ex / 'hubspot/email_events.jsonl')} where type <> 'SENT'
                order by hash(id) limit {max(1, round(total * new_events))})""",
            "salesforce.contacts": _changed_csv(ex / "salesforce/contacts.csv", changed_people),
            "salesforce.leads": _changed_csv(ex / "salesforce/leads.csv", changed_people),
            "hubspot.contacts": _changed_hubspot(con, ex / "hubspot/contacts.jsonl", changed_people),
            "cdp.profiles": f"""with t as (select * from read_parquet('{_q(ex / "cdp/profiles.parquet")}'))
                select * replace ((select max(updated_at) from t) as updated_at) from t
                where hash(profile_id) % {round(1 / changed_people)} = 0""",
        }
        for key, sql in plans.items():
            platform, entity = key.split(".")
            stream = next(s for s in EXPORT_STREAMS if s.platform == platform and s.entity == entity)
            target = ex / platform / stream.path
            tmp = target.with_suffix(target.suffix + ".delta")
            if mode == "snapshot":
                old = (_json(con, target) if stream.format == "json" else
                       f"read_csv('{_q(target)}', all_varchar = true, header = true)" if stream.format == "csv" else
                       f"read_parquet('{_q(target)}')")
                sql = (f'with d as ({sql}) select * from {old} o where o."{stream.primary_key}" not in '
                       f'(select "{stream.primary_key}" from d) union all select * from d')
            con.execute(f"copy ({sql}) to '{_q(tmp)}' ({_format(stream.format)})")
            tmp.replace(target)
            written[key] = _rows(con, target, stream.format)
    finally:
        con.close()
    if mode == "incremental":
        _deliver_deltas(stack.config)
    return written


def _deliver_deltas(config: Path) -> None:
    """Say in steward.yaml that the export integrations now send only each day's changes (``delivery: delta``), as a
    team delivering incremental exports configures them: their files then merge by key and are not judged by size."""
    from steward.flows.config import load_config, write_config

    cfg = load_config(config)
    integrations = [i.model_copy(update={"delivery": "delta"}) if i.kind == "export_files" else i
                    for i in cfg.integrations]
    write_config(cfg.model_copy(update={"integrations": integrations}), config)


def _changed_csv(path: Path, share: float) -> str:
    src = f"read_csv('{_q(path)}', all_varchar = true, header = true)"
    return f"""with t as (select * from {src})
        select * replace (FirstName || 'e' as FirstName, (select max(SystemModstamp) from t) as SystemModstamp)
        from t where hash(Id) % {round(1 / share)} = 0"""


def _changed_hubspot(con: duckdb.DuckDBPyConnection, path: Path, share: float) -> str:
    src = _json(con, path)
    props = _struct_fields(con, src, "properties")
    newest = "(select max(updatedAt) from t)"
    fields = ", ".join(f'"{f}" := ' + {"firstname": "properties.firstname || 'e'",
                                        "lastmodifieddate": newest}.get(f, f'properties."{f}"') for f in props)
    return f"""with t as (select * from {src})
        select * replace (struct_pack({fields}) as properties, {newest} as updatedAt)
        from t where hash(id) % {round(1 / share)} = 0"""


def raw_sizes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per raw table of the landed warehouse."""
    tables = [r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = 'raw' "
                                        "order by 1").fetchall()]
    return {t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in tables}
