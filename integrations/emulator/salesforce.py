"""A wire-compatible Salesforce REST emulator: OAuth2 token, describe, SOQL ``query``/``queryAll`` with query locators,
sObject read/update/delete and ``limits``, speaking Salesforce's own error bodies and ``Sforce-Limit-Info`` header.

Each sObject is a DuckDB table sorted by (SystemModstamp, Id), seeded from the demo workspace's export CSVs or
generated with ``range()``, so a page is a keyset query whose cost does not grow with the offset. A query locator
remembers the key each page ended on, so the same ``nextRecordsUrl`` fetched twice (a retry after a truncated body)
answers the same page. The SOQL understood is what adapters and simple-salesforce send::

    SELECT f1, f2 FROM Object [WHERE field op literal [AND ...]] [ORDER BY f [ASC], ...] [LIMIT n]

Deleted rows keep ``IsDeleted = true`` and a fresh SystemModstamp; ``query`` hides them, ``queryAll`` serves them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ._platform import PlatformEmulator, Reply, Request

__all__ = ["SalesforceEmulator", "OBJECTS"]

# entity (as in sources/streams.py) -> (sObject, key prefix)
OBJECTS: dict[str, tuple[str, str]] = {
    "accounts": ("Account", "001"), "contacts": ("Contact", "003"), "leads": ("Lead", "00Q"),
    "opportunities": ("Opportunity", "006"), "campaigns": ("Campaign", "701"),
    "campaign_members": ("CampaignMember", "00v"),
}
_ENTITY = {obj: entity for entity, (obj, _) in OBJECTS.items()}
# describe type of each field the demo org holds; anything unlisted is a plain string
FIELD_TYPES: dict[str, str] = {
    "Id": "id", "AccountId": "reference", "CampaignId": "reference", "ContactId": "reference", "LeadId": "reference",
    "Email": "email", "Phone": "phone", "HasOptedOutOfEmail": "boolean", "IsConverted": "boolean",
    "IsActive": "boolean", "IsDeleted": "boolean", "AnnualRevenue": "currency", "Amount": "currency",
    "BudgetedCost": "currency", "ActualCost": "currency", "CloseDate": "date", "StartDate": "date", "EndDate": "date",
    "CreatedDate": "datetime", "SystemModstamp": "datetime", "Status": "picklist", "StageName": "picklist",
}
_SQL_IN = {"datetime": "cast(cast({} as timestamptz) at time zone 'UTC' as timestamp)", "date": "cast({} as date)",
           "boolean": "cast({} as boolean)", "currency": "cast({} as double)", "double": "cast({} as double)"}
_SQL_OUT = {"datetime": "strftime({}, '%Y-%m-%dT%H:%M:%S.%g+0000')", "date": "strftime({}, '%Y-%m-%d')"}
_READ_ONLY = {"Id", "IsDeleted", "CreatedDate", "SystemModstamp"}
# what ``load_synthetic`` fills each field with (``i`` is the row number); valid under the source contracts
_SYNTH: dict[str, str] = {
    "AccountId": "'001' || lpad((i % 1000)::varchar, 15, '0')",
    "CampaignId": "'701' || lpad((i % 8 + 1)::varchar, 15, '0')",
    "ContactId": "'003' || lpad(i::varchar, 15, '0')", "LeadId": "null", "Email": "'person' || i || '@example.com'",
    "Age_Band__c": "['18-24','25-34','35-44','45-54','55-64','65+'][i % 6 + 1]",
    "Gender__c": "['female','male','nonbinary','unknown'][i % 4 + 1]",
    "Region__c": "['NA','EMEA','APAC','LATAM'][i % 4 + 1]",
    "MailingCountry": "['US','GB','DE','FR','AU'][i % 5 + 1]",
    "BillingCountry": "['US','GB','DE','FR','AU'][i % 5 + 1]",
    "StageName": "['Prospecting','Qualification','Proposal','Negotiation','Closed Won','Closed Lost'][i % 6 + 1]",
    "Lead.Status": "['Open - Not Contacted','Working - Contacted','Closed - Not Converted'][i % 3 + 1]",
    "Campaign.Status": "'In Progress'", "CampaignMember.Status": "['Sent','Responded'][i % 2 + 1]",
    "Google_Ads_Campaign_Id__c": "(9000000000 + i)::varchar", "IsActive": "true", "IsConverted": "false",
    "SystemModstamp": "timestamp '2026-01-01' + to_seconds(i // 2)",  # two rows a second: ties page by Id
    "CreatedDate": "timestamp '2025-01-01' + to_seconds(i)",
    "boolean": "i % 3 = 0", "currency": "(i % 1000) * 10.0", "date": "date '2026-01-01' + (i % 300)::int",
    "string": "'{field} ' || i",
}
_SOQL = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
                   r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$", re.I | re.S)
_COND = re.compile(r"^(\w+)\s*(>=|<=|!=|=|>|<)\s*(.+)$", re.S)
_OPEN_LOCATORS = 1000
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$")


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Locator:
    """A server-side query cursor: what to select and where each served page ended."""

    table: str
    columns: list[tuple[str, str]]  # (column, type) in select order
    where: str
    params: list[Any]
    order: list[str]
    total: int
    size: int
    marks: dict[int, tuple | None]


class SalesforceEmulator(PlatformEmulator):
    platform = "salesforce"
    public_paths = (r"^/services/oauth2/",)

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, client_id: str = "steward-demo",
                 client_secret: str = "steward-demo-secret", daily_limit: int = 15_000) -> None:
        super().__init__(host, port)
        self.client_id, self.client_secret, self.daily_limit = client_id, client_secret, daily_limit
        self.api_usage = 0
        self.refresh_tokens: set[str] = set()  # grant_type=refresh_token accepts these (``issue_refresh_token``)
        self.fields: dict[str, list[tuple[str, str]]] = {}  # sObject -> (field, type), describe order
        self._locators: dict[str, _Locator] = {}
        api = r"/services/data/(v\d+\.\d)"
        for method, pattern, handler in [
            ("POST", r"/services/oauth2/token", self._token),
            ("GET", api + r"/limits/?", self._limits),
            ("GET", api + r"/sobjects/?", self._describe_global),
            ("GET", api + r"/sobjects/(\w+)/describe/?", self._describe),
            ("GET", api + r"/(query|queryAll)/?", self._query),
            ("GET", api + r"/(?:query|queryAll)/(01g\w+)-(\d+)/?", self._query_more),
            ("GET", api + r"/sobjects/(\w+)/(\w+)/?", self._get_record),
            ("PATCH", api + r"/sobjects/(\w+)/(\w+)/?", self._patch_record),
            ("DELETE", api + r"/sobjects/(\w+)/(\w+)/?", self._delete_record),
        ]:
            self.route(method, pattern, handler if method == "POST" else self._metered(handler))
        for method in ("GET", "POST", "PATCH", "DELETE"):
            self.route(method, r"/services/data/.*", lambda request, *_: _not_found())

    # -- seeding ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_workspace(cls, root: Any, **kwargs: Any) -> "SalesforceEmulator":
        """An org holding the demo workspace's Salesforce exports (``<root>/exports/salesforce/<entity>.csv``)."""
        emulator = cls(**kwargs)
        # a Workspace (from generate_workspace) or a folder; Path has a ``root`` attribute too, so test the type
        folder = Path(root if isinstance(root, (str, Path)) else root.root) / "exports" / "salesforce"
        for entity, (obj, _) in OBJECTS.items():
            path = folder / f"{entity}.csv"
            if path.is_file():
                emulator.load_csv(obj, path)
        return emulator

    def load_csv(self, obj: str, path: Path) -> None:
        header = self.db.execute(f"select * from read_csv('{_sql_str(path)}', header = true, all_varchar = true) "
                                 "limit 0").description
        fields = [(d[0], FIELD_TYPES.get(d[0], "string")) for d in header]
        select = ", ".join(f'{_SQL_IN.get(t, "{}").format(_q(f))} as {_q(f)}' for f, t in fields)
        self._create(obj, fields, f"select {select}, false as \"IsDeleted\" from read_csv('{_sql_str(path)}', "
                                  "header = true, all_varchar = true)")

    def load_synthetic(self, entity: str, rows: int) -> None:
        """Replace ``entity`` with ``rows`` generated rows (benchmarks: a million contacts costs seconds, not RAM)."""
        obj, prefix = OBJECTS[entity]
        fields = [(f, t) for f, t in self.fields.get(obj, []) if f != "IsDeleted"] or _default_fields(obj)
        exprs = {f: _SYNTH.get(f"{obj}.{f}") or _SYNTH.get(f) or _SYNTH.get(t) or _SYNTH["string"] for f, t in fields}
        exprs["Id"] = f"'{prefix}' || lpad(i::varchar, 15, '0')"
        select = ", ".join(f"{exprs[f].format(field=f)} as {_q(f)}" for f, _ in fields)
        self._create(obj, fields, f'select {select}, false as "IsDeleted" from range({int(rows)}) t(i)')

    def _create(self, obj: str, fields: list[tuple[str, str]], select: str) -> None:
        with self._lock:
            self.db.execute(f'create or replace table {_q(obj)} as {select} order by "SystemModstamp", "Id"')
            self.fields[obj] = [*fields, ("IsDeleted", "boolean")]
            if obj == "Campaign":
                self.campaign_state = {r["Id"]: "active" if r["IsActive"] else "paused"
                                       for r in self.query('select "Id", "IsActive" from "Campaign"')}

    def update_record(self, obj: str, record_id: str, values: dict[str, Any]) -> None:
        """Change fields and stamp SystemModstamp, as any save in the org does."""
        types = dict(self.fields[obj])
        sets = [f'{_q(f)} = {_SQL_IN.get(types[f], "{}").format("?")}' for f in values]
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        sets.append('"SystemModstamp" = ?')
        with self._lock:
            self.query(f'update {_q(obj)} set {", ".join(sets)} where "Id" = ? returning "Id"',
                       [*values.values(), now, record_id])

    def delete_record(self, entity: str, record_id: str) -> None:
        self.update_record(OBJECTS[entity][0], record_id, {"IsDeleted": True})

    # -- the platform's words --------------------------------------------------------------------------------------
    def auth_error(self, request: Request) -> Reply:
        return Reply(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                     {"WWW-Authenticate": 'Token'})

    def rate_limited(self, request: Request, retry_after: float) -> Reply:
        return Reply(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 503:
            return Reply(503, [{"message": "Server temporarily unavailable; please try again later.",
                                "errorCode": "SERVER_UNAVAILABLE"}])
        return Reply(status, [{"message": "An unexpected error occurred. Please include this ErrorId if you contact "
                                          "support: 1234567890-12345 (-1234567890)", "errorCode": "UNKNOWN_EXCEPTION"}])

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """Every REST answer carries the org's API usage, the way Salesforce reports it."""
        api = target.startswith("/services/data/")
        if api:
            with self._lock:
                self.api_usage += 1
        reply = super().handle(method, target, headers, body)
        if api:
            used = min(self.api_usage, self.daily_limit)
            reply.headers = {**reply.headers, "Sforce-Limit-Info": f"api-usage={used}/{self.daily_limit}"}
        return reply

    def _metered(self, handler: Callable[..., Reply]) -> Callable[..., Reply]:
        def metered(request: Request, *groups: str) -> Reply:
            return self.rate_limited(request, 0) if self.api_usage > self.daily_limit else handler(request, *groups)
        return metered

    # -- OAuth2 ----------------------------------------------------------------------------------------------------
    def _token(self, request: Request) -> Reply:
        form = request.form()
        grant = form.get("grant_type")
        if grant not in ("client_credentials", "refresh_token"):
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if form.get("client_id") != self.client_id or (
                grant == "client_credentials" and form.get("client_secret") != self.client_secret):
            return Reply(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        if grant == "refresh_token" and form.get("refresh_token") not in self.refresh_tokens:
            return Reply(400, {"error": "invalid_grant", "error_description": "expired access/refresh token"})
        issued = str(int(time.time() * 1000))
        ident = f"{self.base_url}/id/00D000000000001AAA/005000000000001AAA"
        signature = base64.b64encode(hmac.new(self.client_secret.encode(), (ident + issued).encode(),
                                              hashlib.sha256).digest()).decode()
        token = f"00D000000000001AAA!{self.issue_token()}"  # a session id starts with the org id, as real ones do
        with self._lock:
            self.tokens.add(token)
        return Reply(200, {"access_token": token, "instance_url": self.base_url,
                           "id": ident, "token_type": "Bearer", "issued_at": issued, "signature": signature})

    def issue_refresh_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self.refresh_tokens.add(token)
        return token

    # -- REST resources --------------------------------------------------------------------------------------------
    def _limits(self, request: Request, version: str) -> Reply:
        used = min(self.api_usage, self.daily_limit)
        return Reply(200, {"DailyApiRequests": {"Max": self.daily_limit, "Remaining": self.daily_limit - used},
                           "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                           "DataStorageMB": {"Max": 1024, "Remaining": 1000}})

    def _describe_global(self, request: Request, version: str) -> Reply:
        return Reply(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
            {"name": obj, "label": obj, "keyPrefix": OBJECTS[_ENTITY[obj]][1], "queryable": True, "updateable": True,
             "urls": {"describe": f"/services/data/{version}/sobjects/{obj}/describe"}} for obj in self.fields]})

    def _describe(self, request: Request, version: str, name: str) -> Reply:
        obj = self._object(name)
        if obj is None:
            return _not_found()
        fields = [{"name": served, "label": served, "type": t, "nillable": served != "Id",
                   "updateable": served not in _READ_ONLY} for served, _, t in self._served(obj)]
        return Reply(200, {"name": obj, "label": obj, "keyPrefix": OBJECTS[_ENTITY[obj]][1], "queryable": True,
                           "updateable": True, "fields": fields})

    def _query(self, request: Request, version: str, endpoint: str) -> Reply:
        try:
            loc = self._plan(request.query.get("q", ""), include_deleted=endpoint == "queryAll")
        except SoqlError as exc:
            return Reply(400, [{"message": exc.message, "errorCode": exc.code}])
        options = dict(re.findall(r"(\w+)=(\d+)", request.headers.get("sforce-query-options", "")))
        loc.size = min(2000, max(200, int(options.get("batchSize", 2000))))
        locator = "01g" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(15))
        with self._lock:
            self._locators[locator] = loc
            while len(self._locators) > _OPEN_LOCATORS:  # Salesforce, too, drops the oldest open cursors
                del self._locators[next(iter(self._locators))]
        return self._page(locator, loc, 0, version)

    def _query_more(self, request: Request, version: str, locator: str, offset: str) -> Reply:
        loc = self._locators.get(locator)
        if loc is None or int(offset) not in loc.marks:
            return Reply(400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}])
        return self._page(locator, loc, int(offset), version)

    def _page(self, locator: str, loc: _Locator, offset: int, version: str) -> Reply:
        after, want = loc.marks[offset], min(loc.size, loc.total - offset)
        keyset, params = _keyset(loc.order, after)
        select = ", ".join(f'{_SQL_OUT.get(t, "{}").format(_q(c))} as {_q(c)}' for c, t in loc.columns)
        keys = ", ".join(f"{_q(c)} as __k{i}" for i, c in enumerate(loc.order))
        order = ", ".join(map(_q, loc.order))
        # pick the page on raw columns first, format only its rows (formatting every candidate row costs 50x more)
        rows = self.query(f"select {select}, {keys} from (select * from {_q(loc.table)} where {loc.where}{keyset} "
                          f"order by {order} limit {max(want, 0)}) order by {order}",
                          [*loc.params, *params]) if want > 0 else []
        entity, served, url = _ENTITY[loc.table], offset + len(rows), f"/services/data/{version}/sobjects/{loc.table}"
        records = [{"attributes": {"type": loc.table, "url": f"{url}/{r[f'__k{len(loc.order) - 1}']}"},  # Id is last
                    **self.renamed_record(entity, {c: r[c] for c, _ in loc.columns})} for r in rows]
        done = len(rows) < want or served >= loc.total
        body: dict[str, Any] = {"totalSize": loc.total, "done": done, "records": records}
        if not done:
            with self._lock:
                loc.marks[served] = tuple(rows[-1][f"__k{i}"] for i in range(len(loc.order)))
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{served}"
        return Reply(200, body)

    def _get_record(self, request: Request, version: str, name: str, record_id: str) -> Reply:
        obj = self._object(name)
        if obj is None:
            return _not_found()
        served = {s.lower(): (s, c, t) for s, c, t in self._served(obj)}
        wanted = [f.strip() for f in request.query.get("fields", "").split(",") if f.strip()] or \
            [s for s, _, _ in self._served(obj)]
        unknown = [f for f in wanted if f.lower() not in served]
        if unknown:
            return Reply(400, [{"message": f"No such column '{unknown[0]}' on sobject of type {obj}",
                                "errorCode": "INVALID_FIELD"}])
        cols = [served[f.lower()] for f in wanted]
        select = ", ".join(f'{_SQL_OUT.get(t, "{}").format(_q(c))} as {_q(c)}' for _, c, t in cols)
        rows = self.query(f'select {select} from {_q(obj)} where "Id" = ? and not "IsDeleted"', [record_id])
        if not rows:
            return _not_found()
        return Reply(200, {"attributes": {"type": obj, "url": f"/services/data/{version}/sobjects/{obj}/{record_id}"},
                           **self.renamed_record(_ENTITY[obj], rows[0])})

    def _patch_record(self, request: Request, version: str, name: str, record_id: str) -> Reply:
        obj = self._object(name)
        exists = obj is not None and self.query(f'select 1 from {_q(obj)} where "Id" = ? and not "IsDeleted"',
                                                [record_id])
        if not exists:
            return _not_found()
        served = {s.lower(): c for s, c, _ in self._served(obj)}
        values = request.json() or {}
        bad = [f for f in values if f.lower() not in served or served[f.lower()] in _READ_ONLY]
        if bad:
            return Reply(400, [{"message": f"No such column '{bad[0]}' on sobject of type {obj}",
                                "errorCode": "INVALID_FIELD"}])
        self.update_record(obj, record_id, {served[f.lower()]: v for f, v in values.items()})
        if obj == "Campaign" and "isactive" in {f.lower() for f in values}:
            active = bool(next(v for f, v in values.items() if f.lower() == "isactive"))
            self.set_campaign(record_id, "resume" if active else "pause", "active" if active else "paused")
        return Reply(204)

    def _delete_record(self, request: Request, version: str, name: str, record_id: str) -> Reply:
        obj = self._object(name)
        if obj is None or not self.query(f'select 1 from {_q(obj)} where "Id" = ? and not "IsDeleted"', [record_id]):
            return _not_found()
        self.update_record(obj, record_id, {"IsDeleted": True})
        return Reply(204)

    # -- SOQL ------------------------------------------------------------------------------------------------------
    def _object(self, name: str) -> str | None:
        return next((obj for obj in self.fields if obj.lower() == name.lower()), None)

    def _served(self, obj: str) -> list[tuple[str, str, str]]:
        """(name the API shows, table column, type): a renamed field is served, queried and updated by its new name."""
        mapping = self.renamed.get(_ENTITY[obj], {})
        return [(mapping.get(c, c), c, t) for c, t in self.fields[obj]]

    def _plan(self, soql: str, include_deleted: bool) -> _Locator:
        found = _SOQL.match(soql)
        if not found:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{soql.strip()[:40]}'")
        obj = self._object(found["object"])
        if obj is None:
            raise SoqlError("INVALID_TYPE", _at(soql, found["object"],
                            f"sObject type '{found['object']}' is not supported. If you are attempting to use a "
                            "custom object, be sure to append the '__c' after the entity name. Please reference "
                            "your WSDL or the describe call for the appropriate names."))
        served = {s.lower(): (c, t) for s, c, t in self._served(obj)}

        def column(name: str) -> tuple[str, str]:
            if not re.fullmatch(r"\w+", name):
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{name}'")
            if name.lower() not in served:
                raise SoqlError("INVALID_FIELD", _at(soql, name,
                                f"No such column '{name}' on entity '{obj}'. If you are attempting to use a custom "
                                "field, be sure to append the '__c' after the custom field name. Please reference "
                                "your WSDL or the describe call for the appropriate names."))
            return served[name.lower()]

        columns = [column(f.strip()) for f in found["fields"].split(",")]
        where, params = ["true" if include_deleted else 'not "IsDeleted"'], []
        for cond in re.split(r"\s+AND\s+", found["where"] or "", flags=re.I) if found["where"] else []:
            sql, value = _condition(cond.strip(), column)
            where.append(sql)
            params.extend(value)
        order = [column(re.sub(r"\s+ASC$", "", o.strip(), flags=re.I))[0] for o in (found["order"] or "").split(",")
                 if o.strip()]
        order = [*order, "Id"] if "Id" not in order else order[: order.index("Id") + 1]
        where_sql = " and ".join(where)
        total = self.query(f"select count(*) as n from {_q(obj)} where {where_sql}", params)[0]["n"]
        if found["limit"]:
            total = min(total, int(found["limit"]))
        return _Locator(obj, columns, where_sql, params, order, total, 2000, {0: None})


def _condition(cond: str, column: Callable[[str], tuple[str, str]]) -> tuple[str, list[Any]]:
    found = _COND.match(cond)
    if not found:
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{cond[:40]}'")
    name, op, literal = found.groups()
    col, ftype = column(name)
    op = "<>" if op == "!=" else op
    if literal.lower() == "null" and op in ("=", "<>"):
        return f"{_q(col)} is {'not ' if op == '<>' else ''}null", []
    if ftype == "datetime":
        if not _DATETIME.match(literal):
            raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{name}' must be of type dateTime "
                                             "and should not be enclosed in quotes")
        value: Any = datetime.fromisoformat(literal).astimezone(timezone.utc).replace(tzinfo=None)
    elif literal.startswith("'") and literal.endswith("'") and len(literal) >= 2:
        value = literal[1:-1].replace("\\'", "'")
    elif literal.lower() in ("true", "false"):
        value = literal.lower() == "true"
    elif re.fullmatch(r"-?\d+(\.\d+)?", literal):
        value = float(literal)
    else:
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{literal[:40]}'")
    return f"{_q(col)} {op} ?", [value]


def _keyset(order: list[str], after: tuple | None) -> tuple[str, list[Any]]:
    """Rows strictly after ``after`` in ``order``; the leading ``>=`` lets DuckDB's zone maps skip row groups."""
    if after is None:
        return "", []
    terms, params = [], []
    for i, col in enumerate(order):
        eq = [f"{_q(c)} = ?" for c in order[:i]]
        terms.append("(" + " and ".join([*eq, f"{_q(col)} > ?"]) + ")")
        params.extend([*after[:i], after[i]])
    return f" and {_q(order[0])} >= ? and ({' or '.join(terms)})", [after[0], *params]


def _at(soql: str, token: str, message: str) -> str:
    """Salesforce's error text points at the offending token: row, column and a caret under it."""
    col = max(soql.find(token), 0) + 1
    return f"\n{soql}\n{' ' * (col - 1)}^\nERROR at Row:1:Column:{col}\n{message}"


def _not_found() -> Reply:
    return Reply(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])


def _default_fields(obj: str) -> list[tuple[str, str]]:
    person = "Id,FirstName,LastName,Email,Age_Band__c,Gender__c,Region__c,HasOptedOutOfEmail,CreatedDate,SystemModstamp"
    names = {
        "Account": "Id,Name,Industry,AnnualRevenue,BillingCountry,CreatedDate,SystemModstamp",
        "Contact": person + ",AccountId,Phone,MailingCountry",
        "Lead": person + ",Company,Status,LeadSource,IsConverted",
        "Opportunity": "Id,AccountId,Name,StageName,Amount,CloseDate,CampaignId,CreatedDate,SystemModstamp",
        "Campaign": "Id,Name,Type,Status,IsActive,StartDate,EndDate,BudgetedCost,ActualCost,Google_Ads_Campaign_Id__c,"
                    "SystemModstamp",
        "CampaignMember": "Id,CampaignId,ContactId,LeadId,Status,CreatedDate,SystemModstamp",
    }[obj]
    return [(f, FIELD_TYPES.get(f, "string")) for f in names.split(",")]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(path: Path) -> str:
    return path.as_posix().replace("'", "''")
