"""The privacy marts say what the raw exports say (every injection on).

As in ``test_marts_match_exports.py``: one demo workspace is landed, scanned and built by the real dbt project, and
each test recomputes a privacy mart's numbers straight from the export files with pandas and hashlib, never through
the warehouse, so a wrong join key, hash normalisation or time comparison in the SQL shows up as a mismatch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from governed import governed_copy
from steward.contracts.policy import load_policy
from steward.integrations.demo.injections import Injections

pytestmark = pytest.mark.slow
SYSTEMS = ("salesforce", "hubspot", "cdp", "google_ads")


@pytest.fixture(scope="module")
def governed(tmp_path_factory):
    copy = governed_copy(tmp_path_factory, "privacy-marts", seed=11, scale=0.5, injections=Injections())
    return copy.ws.exports, lambda name: copy.wh.query_df(f"select * from governance.{name}"), copy.started


def _sha(emails: pd.Series) -> pd.Series:
    return emails.dropna().astype(str).str.strip().str.lower().map(lambda e: hashlib.sha256(e.encode()).hexdigest())


def _held(exports: Path) -> dict[str, set[str]]:
    """SHA-256 of every address each system still holds."""
    sf = exports / "salesforce"
    crm = pd.concat([pd.read_csv(sf / f, dtype=str, keep_default_na=False, na_values=[""])["Email"]
                     for f in ("contacts.csv", "leads.csv")])
    hs = exports / "hubspot"
    hubspot = pd.concat([pd.read_json(hs / "contacts.jsonl", lines=True, dtype=False)["properties"].map(
        lambda p: p.get("email")), pd.read_json(hs / "subscriptions.jsonl", lines=True, dtype=False)["recipient"]])
    cdp = pd.read_parquet(exports / "cdp" / "profiles.parquet")["email"]
    uploads = pd.read_csv(exports / "google_ads" / "audience_uploads.csv", dtype=str)
    return {"salesforce": set(_sha(crm)), "hubspot": set(_sha(hubspot)), "cdp": set(_sha(cdp)),
            "google_ads": set(uploads["user_identifiers.hashed_email"])}


def _sends(exports: Path) -> pd.DataFrame:
    events = pd.read_json(exports / "hubspot" / "email_events.jsonl", lines=True, dtype=False)
    events["at"] = pd.to_datetime(events["created"], unit="ms", utc=True)
    return events


def test_ad_uploads_without_consent_match_exports(governed):
    exports, mart, _ = governed
    uploads = pd.read_csv(exports / "google_ads" / "audience_uploads.csv", dtype=str)
    profiles = pd.read_parquet(exports / "cdp" / "profiles.parquet")
    profiles["h"] = _sha(profiles["email"])
    consent = profiles.groupby("h")["consent_ads"].agg(lambda s: bool(s.fillna(False).all()))
    ok = uploads["user_identifiers.hashed_email"].map(consent).fillna(False).astype(bool)
    bad = uploads[~ok]
    assert len(bad) > 0  # the upload injection is on

    row = mart("gov_consent__channel_purpose").set_index(["channel", "system"]).loc[("ads", "cdp")]
    assert row["people_contacted"] == uploads["user_identifiers.hashed_email"].nunique()
    assert row["people_without_consent"] == bad["user_identifiers.hashed_email"].nunique()
    assert row["contacts_without_consent"] == len(bad)


def test_email_consent_in_hubspot_matches_subscriptions_and_sends(governed):
    exports, mart, _ = governed
    subs = pd.read_json(exports / "hubspot" / "subscriptions.jsonl", lines=True, dtype=False)
    subs = subs[(subs["subscriptionId"] == "marketing_information") & (subs["status"] == "UNSUBSCRIBED")]
    withdrawn = pd.Series(pd.to_datetime(subs["timestamp"], utc=True).to_numpy(),
                          index=subs["recipient"].str.strip().str.lower())
    sends = _sends(exports)
    sends = sends[sends["type"] == "SENT"].assign(key=lambda f: f["recipient"].str.strip().str.lower())
    late = sends[sends["at"] > sends["key"].map(withdrawn)]
    row = mart("gov_consent__channel_purpose").set_index(["channel", "system"]).loc[("email", "hubspot")]
    assert (row["people_without_consent"], row["contacts_without_consent"]) == (late["key"].nunique(), len(late))
    assert len(late) > 0  # the consent-mismatch injection is on


def test_erasure_propagation_matches_exports(governed):
    exports, mart, _ = governed
    requests = pd.read_parquet(exports / "cdp" / "erasure_requests.parquet")
    done = requests[requests["status"] == "completed"]
    held = _held(exports)
    sends = _sends(exports)
    sends = sends[sends["type"] == "SENT"].assign(h=lambda f: _sha(f["recipient"]))
    uploads = pd.read_csv(exports / "google_ads" / "audience_uploads.csv", dtype=str)
    uploads["at"] = pd.to_datetime(uploads["upload_time"], utc=True)
    contacted = {"hubspot": sends[["h", "at"]],
                 "google_ads": uploads.rename(columns={"user_identifiers.hashed_email": "h"})[["h", "at"]]}

    got = mart("gov_privacy__erasure").set_index("system")
    for system in SYSTEMS:
        times = contacted.get(system, pd.DataFrame(columns=["h", "at"]))
        late = [int(((times["h"] == r.email_sha256) & (times["at"] > r.requested_at)).sum()) for r in done.itertuples()]
        present = [r.email_sha256 in held[system] for r in done.itertuples()]
        assert got.loc[system, "requests_completed"] == len(done)
        assert got.loc[system, "people_still_present"] == sum(present)
        assert got.loc[system, "contacts_after_request"] == sum(late)
        assert got.loc[system, "people_not_erased"] == sum(p or n > 0 for p, n in zip(present, late))
    assert got.loc["salesforce", "people_not_erased"] > 0  # the erasure injection is on


def test_retention_matches_event_ages(governed):
    exports, mart, started = governed
    days = load_policy().scope.retention_days["hubspot.email_events"]
    events = _sends(exports)
    old = events[events["at"] < started - pd.Timedelta(days=days)]
    row = mart("gov_privacy__retention").set_index("entity").loc["hubspot.email_events"]
    assert (row["records"], row["records_past_retention"]) == (len(events), len(old))
    assert len(old) > 0  # the retention injection is on


def test_pii_outside_allowed_tables_is_exactly_the_decision_log_column(governed):
    exports, mart, _ = governed
    assert "debug_contact_email" in pd.read_parquet(exports / "decisions" / "ai_decisions.parquet").columns
    got = mart("gov_privacy__pii_columns")
    bad = got[got["pii_columns_not_allowed"] > 0]
    assert list(bad["table_ref"]) == ["raw.decisions__ai_decisions"]
    assert bad["columns_found"].iat[0] == "_unmapped.debug_contact_email (email, by name+content)"
    assert set(got.loc[got["is_allowed"], "table_ref"]) >= {"raw.salesforce__contacts", "raw.hubspot__email_events",
                                                            "raw.cdp__profiles"}
