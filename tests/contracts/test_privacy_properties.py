"""Properties of the privacy marts, over hundreds of generated workspaces, against plain-Python oracles.

The marts' SQL is compiled once by a real dbt build; each example then runs it on generated staging tables
(``privacy_workspace.MartSql``). Row order never matters, a fully consented (or fully erased) world never alerts, and
every count equals what a few lines of Python say it should be. The PII scan is tested the same way on its patterns.
"""

from __future__ import annotations

import fnmatch
import random

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from privacy_workspace import MartSql, build_tiny, sha, token, ts
from steward.contracts.governance import judge
from steward.contracts.policy import load_policy
from steward.integrations.warehouse import pii_scan
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow
AS_OF = ts("2026-03-01 12:00")
POLICY = load_policy()
MARTS = ["gov_consent__channel_purpose", "gov_privacy__erasure", "gov_privacy__retention", "gov_privacy__pii_columns"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TS, TXT, BOOL = "datetime64[us, UTC]", "string", "boolean"
SPECS = {
    "stg_hubspot__email_events": {"email_key": TXT, "event_type": TXT, "occurred_at": TS},
    "stg_hubspot__subscriptions": {"email_key": TXT, "subscription_id": TXT, "is_unsubscribed": BOOL,
                                   "status_changed_at": TS},
    # the record ids last: int_people__systems (which the erasure mart reads through int_people__presence) orders a
    # person's CRM records by them; the rows below leave them null
    "stg_salesforce__contacts": {"email_key": TXT, "has_opted_out_of_email": BOOL, "updated_at": TS, "contact_id": TXT},
    "stg_salesforce__leads": {"email_key": TXT, "has_opted_out_of_email": BOOL, "updated_at": TS, "lead_id": TXT},
    # staging writes each email's hash and token beside it, and each upload's token (the consent mart reads them)
    "stg_cdp__profiles": {"email_key": TXT, "has_email_consent": BOOL, "has_ads_consent": BOOL, "updated_at": TS,
                          "email_sha256": TXT, "customer_token": TXT},
    "stg_google_ads__audience_uploads": {"hashed_email": TXT, "uploaded_at": TS, "hashed_email_token": TXT},
    "stg_hubspot__contacts": {"email_key": TXT},
    "stg_marketo__leads": {"email_key": TXT, "is_unsubscribed": BOOL, "updated_at": TS},
    "int_marketo_activities__identified": {"email_key": TXT, "activity_type": TXT, "occurred_at": TS},
    "stg_cdp__erasure_requests": {"request_id": TXT, "email_sha256": TXT, "request_status": TXT, "request_type": TXT,
                                  "requested_at": TS, "completed_at": TS},
    "stg_decisions__ai_decisions": {"decided_at": TS},
    # no custom system here (tests/dbt/test_custom_people.py covers them)
    "stg_custom__people": {"system": TXT, "person_id": TXT, "email_key": TXT, "is_email_opted_out": BOOL,
                           "opted_out_at": TS, "updated_at": TS},
    "stg_custom__consent_events": {"system": TXT, "event_id": TXT, "person_id": TXT, "email_key": TXT, "channel": TXT,
                                   "is_withdrawn": BOOL, "occurred_at": TS},
    "stg_custom__touches": {"system": TXT, "person_id": TXT, "email_key": TXT, "channel": TXT, "touched_at": TS},
    "stg_custom__erasure_requests": {"request_key": TXT, "email_sha256": TXT, "request_status": TXT,
                                     "request_type": TXT, "requested_at": TS},
}


@pytest.fixture(scope="module")
def sql(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy-props")
    build_tiny(root, {}, AS_OF, MARTS)
    scratch = tmp_path_factory.mktemp("scratch")
    return {m: MartSql(root, m, scratch) for m in MARTS}


def _tables(rows: dict[str, list[tuple]], shuffle: int | None = None) -> dict[str, pd.DataFrame]:
    out = {}
    for name, spec in SPECS.items():
        data = [tuple(row) + (None,) * (len(spec) - len(row)) for row in rows.get(name, [])]  # ids left null
        if shuffle is not None:
            random.Random(shuffle).shuffle(data)
        out[name] = pd.DataFrame(data, columns=list(spec)).astype(spec)
    return out


def _day(d: int) -> pd.Timestamp:
    return ts("2026-01-01") + pd.Timedelta(days=d)


# ---------------------------------------------------------------------------------------------- consent

_maybe_bool = st.sampled_from([True, False, None])
PERSON = st.fixed_dictionaries({
    "esp": st.one_of(st.none(), st.just("SUBSCRIBED"), st.integers(0, 59)),  # int: unsubscribed that day
    "crm": st.one_of(st.none(), st.tuples(st.booleans(), st.integers(0, 59))),  # (opted out, last change)
    "cdp": st.one_of(st.none(), st.tuples(_maybe_bool, _maybe_bool, st.integers(0, 59))),  # (email, ads, change)
    # a Marketo lead: (unsubscribed, the Unsubscribe Email activity's day or None, the lead's last change)
    "mkto": st.one_of(st.none(), st.tuples(st.booleans(), st.one_of(st.none(), st.integers(0, 59)),
                                           st.integers(0, 59))),
    "sends": st.lists(st.integers(0, 59), max_size=4),
    "marketo_sends": st.lists(st.integers(0, 59), max_size=2),  # only to people Marketo holds
    "uploaded": st.booleans(),
})


def _consent_rows(people: list[dict]) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {}
    for i, p in enumerate(people):
        email = f"p{i}@x.io"
        rows.setdefault("stg_hubspot__email_events", []).extend((email, "SENT", _day(d) + pd.Timedelta(hours=9))
                                                                for d in p["sends"])
        if p["esp"] is not None:
            out = p["esp"] != "SUBSCRIBED"
            rows.setdefault("stg_hubspot__subscriptions", []).append(
                (email, "marketing_information", out, _day(p["esp"] if out else 0)))
        if p["crm"] is not None:
            rows.setdefault("stg_salesforce__contacts" if i % 2 else "stg_salesforce__leads", []).append(
                (email, p["crm"][0], _day(p["crm"][1])))
        if p["cdp"] is not None:
            rows.setdefault("stg_cdp__profiles", []).append((email, p["cdp"][0], p["cdp"][1], _day(p["cdp"][2]),
                                                             sha(email), token(email)))
        if p["mkto"] is not None:
            out, unsubscribed_on, changed_on = p["mkto"]
            rows.setdefault("stg_marketo__leads", []).append((email, out, _day(changed_on)))
            activities = rows.setdefault("int_marketo_activities__identified", [])
            activities.extend((email, "send_email", _day(d) + pd.Timedelta(hours=10)) for d in p["marketo_sends"])
            if unsubscribed_on is not None:
                activities.append((email, "unsubscribe_email", _day(unsubscribed_on)))
        if p["uploaded"]:
            rows.setdefault("stg_google_ads__audience_uploads", []).append((sha(email), _day(30), token(sha(email))))
    return rows


def _consent_oracle(people: list[dict]) -> dict[str, tuple[int, int]]:
    """system -> (people without consent, contacts without consent), straight from the rules in the mart's header."""
    out = {s: [0, 0] for s in ("hubspot", "marketo", "salesforce", "cdp", "ads")}
    for p in people:
        esp_out = None if p["esp"] in (None, "SUBSCRIBED") else _day(p["esp"])
        mkto_out = None
        if p["mkto"] and p["mkto"][0]:
            mkto_out = _day(p["mkto"][1] if p["mkto"][1] is not None else p["mkto"][2])
        platform_out = esp_out or mkto_out
        withdrawn = {"hubspot": esp_out, "marketo": mkto_out,
                     "salesforce": (platform_out or _day(p["crm"][1])) if p["crm"] and p["crm"][0] else None,
                     "cdp": (platform_out or _day(p["cdp"][2])) if p["cdp"] and p["cdp"][0] is False else None}
        sent = [_day(d) + pd.Timedelta(hours=9) for d in p["sends"]]
        if p["mkto"] is not None:
            sent += [_day(d) + pd.Timedelta(hours=10) for d in p["marketo_sends"]]
        for system, since in withdrawn.items():
            late = [at for at in sent if since is not None and at > since]
            out[system][0] += bool(late)
            out[system][1] += len(late)
        if p["uploaded"] and not (p["cdp"] and p["cdp"][1] is True):
            out["ads"][0] += 1
            out["ads"][1] += 1
    return {k: tuple(v) for k, v in out.items()}


@SETTINGS
@given(people=st.lists(PERSON, max_size=8), seed=st.integers(0, 2**16))
def test_consent_mart_matches_the_oracle_in_any_row_order(sql, people, seed):
    mart = sql["gov_consent__channel_purpose"]
    got = mart.run(_tables(_consent_rows(people)))
    assert got.equals(mart.run(_tables(_consent_rows(people), shuffle=seed)))
    by_system = {("ads" if r.channel == "ads" else r.system): (r.people_without_consent, r.contacts_without_consent)
                 for r in got.itertuples()}
    assert by_system == _consent_oracle(people)


CONSENTED = PERSON.map(lambda p: {**p, "esp": "SUBSCRIBED" if p["esp"] is not None else None,
                                  "crm": (False, p["crm"][1]) if p["crm"] else None,
                                  "mkto": (False, None, p["mkto"][2]) if p["mkto"] else None,
                                  "cdp": (True, True, 0) if p["uploaded"] or p["cdp"] else None})


@SETTINGS
@given(people=st.lists(CONSENTED, max_size=8))
def test_a_fully_consented_world_raises_no_consent_finding(sql, people):
    mart = sql["gov_consent__channel_purpose"].run(_tables(_consent_rows(people)))
    assert (mart["people_without_consent"] == 0).all()
    for check in ("consent.email_without_consent", "consent.ad_upload_without_consent"):
        assert judge(check, POLICY.checks[check], mart, "t", POLICY) == []


# ---------------------------------------------------------------------------------------------- erasure

ERASURE_SYSTEMS = ("salesforce", "hubspot", "marketo", "cdp", "google_ads")
SUBJECT = st.fixed_dictionaries({"systems": st.sets(st.sampled_from(ERASURE_SYSTEMS)),
                                 "asked": st.one_of(st.none(), st.integers(0, 59)),  # None: never asked
                                 "status": st.sampled_from(["completed", "in_progress"]),
                                 "sends": st.lists(st.integers(0, 59), max_size=3),  # HubSpot's
                                 "marketo_sends": st.lists(st.integers(0, 59), max_size=2)})


def _erasure_rows(subjects: list[dict]) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {}
    table = {"salesforce": "stg_salesforce__contacts", "hubspot": "stg_hubspot__contacts", "cdp": "stg_cdp__profiles",
             "marketo": "stg_marketo__leads"}
    for i, s in enumerate(subjects):
        email = f"s{i}@x.io"
        for system in s["systems"]:
            if system == "google_ads":
                rows.setdefault("stg_google_ads__audience_uploads", []).append((sha(email), _day(30), token(sha(email))))
            else:
                name = table[system]
                row = (email,) + (None,) * (len(SPECS[name]) - 1)
                if name == "stg_cdp__profiles":
                    row = row[:-2] + (sha(email), token(email))
                rows.setdefault(name, []).append(row)
        rows.setdefault("stg_hubspot__email_events", []).extend((email, "SENT", _day(d)) for d in s["sends"])
        rows.setdefault("int_marketo_activities__identified", []).extend(
            (email, "send_email", _day(d)) for d in s["marketo_sends"])
        if s["asked"] is not None:
            rows.setdefault("stg_cdp__erasure_requests", []).append(
                (f"dsr-{i:06d}", sha(email), s["status"], "erasure", _day(s["asked"]), _day(s["asked"] + 1)))
    return rows


def _erasure_oracle(subjects: list[dict]) -> dict[str, int]:
    """People not erased per connected system: one that holds or contacted anybody, asked or not."""
    sent = {"hubspot": "sends", "marketo": "marketo_sends"}
    out = {system: 0 for system in ERASURE_SYSTEMS
           if any(system in s["systems"] or s.get(sent.get(system, ""), []) for s in subjects)}
    for s in subjects:
        if s["asked"] is None or s["status"] != "completed":
            continue
        for system in out:
            late = (system in sent and any(d > s["asked"] for d in s[sent[system]])) or \
                   (system == "google_ads" and "google_ads" in s["systems"] and 30 > s["asked"])
            out[system] += system in s["systems"] or late
    return out


@SETTINGS
@given(subjects=st.lists(SUBJECT, max_size=8), seed=st.integers(0, 2**16))
# held nowhere, yet Marketo mailed them after the erasure completed: a finding (CI once drew this)
@example(subjects=[{"systems": set(), "asked": 0, "status": "completed", "sends": [], "marketo_sends": [1]}], seed=0)
def test_erasure_mart_matches_the_oracle_in_any_row_order(sql, subjects, seed):
    mart = sql["gov_privacy__erasure"]
    got = mart.run(_tables(_erasure_rows(subjects)))
    assert got.equals(mart.run(_tables(_erasure_rows(subjects), shuffle=seed)))
    assert dict(zip(got["system"], got["people_not_erased"])) == _erasure_oracle(subjects)
    if not any(s["asked"] is not None and s["status"] == "completed"
               and (s["systems"] or s["sends"] or s["marketo_sends"]) for s in subjects):
        assert judge("privacy.erasure_not_honoured", POLICY.checks["privacy.erasure_not_honoured"], got, "t",
                     POLICY) == []


# ---------------------------------------------------------------------------------------------- retention

HOURS = st.lists(st.integers(0, 1200 * 24), max_size=12)  # record ages in hours, across every retention boundary


@SETTINGS
@given(events=HOURS, uploads=HOURS, decisions=HOURS, seed=st.integers(0, 2**16))
def test_retention_counts_match_the_oracle_in_any_row_order(sql, events, uploads, decisions, seed):
    at = [AS_OF - pd.Timedelta(hours=h) for h in events]
    rows = {"stg_hubspot__email_events": [("a@x.io", "SENT", t) for t in at],
            "stg_google_ads__audience_uploads": [("ab" * 32, AS_OF - pd.Timedelta(hours=h), token("ab" * 32))
                                                 for h in uploads],
            "stg_decisions__ai_decisions": [(AS_OF - pd.Timedelta(hours=h),) for h in decisions]}
    mart = sql["gov_privacy__retention"]
    got = mart.run(_tables(rows))
    assert got.equals(mart.run(_tables(rows, shuffle=seed)))
    days = POLICY.scope.retention_days
    want = {e: sum(h > days[e] * 24 for h in ages) for e, ages in
            [("hubspot.email_events", events), ("google_ads.audience_uploads", uploads),
             ("decisions.ai_decisions", decisions)] if ages}
    assert dict(zip(got["entity"], got["records_past_retention"])) == want


# ---------------------------------------------------------------------------------------------- PII

TABLE = st.tuples(st.sampled_from(["raw", "staging", "governance"]),
                  st.sampled_from(["salesforce__", "salesforce_", "hubspot__", "stg_cdp__", "int_customers__",
                                   "decisions__", "cdp", ""]),
                  st.from_regex(r"[a-z_]{0,8}", fullmatch=True))


@SETTINGS
@given(tables=st.lists(TABLE, min_size=1, max_size=10, unique=True))
def test_allowed_tables_follow_the_policy_globs_exactly(sql, tables):
    rows = [(schema, prefix + rest, "email", "VARCHAR", "email", "email", 10, 10, AS_OF)
            for schema, prefix, rest in tables if prefix + rest]
    frame = pd.DataFrame(rows, columns=["table_schema", "table_name", "column_name", "data_type", "name_kind",
                                        "content_kind", "values_sampled", "values_matching", "scanned_at"])
    got = sql["gov_privacy__pii_columns"].run({"stg_steward__pii_columns": frame.drop_duplicates(
        ["table_schema", "table_name"])})
    for ref, allowed, not_allowed in zip(got["table_ref"], got["is_allowed"], got["pii_columns_not_allowed"]):
        want = any(fnmatch.fnmatchcase(ref, g) for g in POLICY.scope.pii_allowed_tables)
        assert allowed == want and not_allowed == (0 if want else 1), ref


EMAIL = st.from_regex(r"[a-z][a-z0-9._+-]{0,12}@[a-z0-9-]{1,10}(\.[a-z0-9-]{1,8})?\.[a-z]{2,6}", fullmatch=True)
PHONE = st.from_regex(r"\+[1-9][0-9]{7,13}", fullmatch=True)
IPV4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
NOT_PII = st.one_of(st.from_regex(r"(003|00Q|701)[0-9]{15}", fullmatch=True),
                    st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
                    st.from_regex(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True),
                    st.from_regex(r"dec_[0-9]{9}|prof_[0-9a-f]{8}|h:[0-9a-f]{10}", fullmatch=True),
                    st.from_regex(r"20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z", fullmatch=True))


@pytest.fixture(scope="module")
def scan_wh(tmp_path_factory):
    return Warehouse(tmp_path_factory.mktemp("scan") / "w.duckdb")


@SETTINGS
@given(kind_values=st.one_of(st.tuples(st.just("email"), st.lists(EMAIL, min_size=1, max_size=20)),
                             st.tuples(st.just("phone"), st.lists(PHONE, min_size=1, max_size=20)),
                             st.tuples(st.just("ip_address"), st.lists(IPV4, min_size=1, max_size=20))),
       noise=st.lists(NOT_PII, min_size=1, max_size=20))
def test_the_scan_finds_every_pii_value_and_no_identifier(scan_wh, kind_values, noise):
    kind, values = kind_values
    with scan_wh.connect() as con:
        con.execute("create or replace table raw.t (a varchar, b varchar)")
        con.executemany("insert into raw.t values (?, ?)", [[v, None] for v in values] + [[None, n] for n in noise])
    found = {c.column_name: c for c in pii_scan.scan_pii(scan_wh, ["raw"])}
    assert set(found) == {"a"}
    assert (found["a"].content_kind, found["a"].values_sampled, found["a"].values_matching) == \
           (kind, len(values), len(values))
