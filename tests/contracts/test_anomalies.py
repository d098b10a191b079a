"""Anomalies against each series' own history: robust z-scores on a day-of-week baseline, worked out by hand.

as_of is Friday 2026-11-20 12:00 UTC; the default policy judges each of the 7 complete days before it (today too for
batch quarantine rates) against the same weekday in the 6 weeks before, with
``z = (value - median) / max(1.4826 MAD, 0.25 |median|, floor)``. The tiny workspace:

    hubspot email 700001  Tuesdays 10,9,10,12,11,10 then 10 (z 0); Wednesday 11-18 a misfire: 600 sends, every
                          earlier Wednesday 0 -> median 0, MAD 0, scale = floor 50, z = 600 / 50 = 12 (critical)
    hubspot email 700002  first sent on 11-16: no history of its own, never judged
    google ads 9006       spend 100 a day; Thursday 11-19 1,000 -> scale max(0, 25, 50) = 50, z = 900 / 50 = 18
                          conversions 10 a day; Monday 11-16 28 -> scale max(0, 2.5, 3) = 3, z = 18 / 3 = 6 (warn)
    salesforce batches    1% quarantined every Friday, 30% today -> scale max(0, 0.0025, 0.02), z = 0.29 / 0.02
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.contracts.governance import judge
from tiny import AS_OF, Compiled, build, mart, ms, tiny_policy, tiny_warehouse, ts

pytestmark = pytest.mark.slow
POLICY = tiny_policy()
CHECKS = ("anomaly.send_volume_spike", "anomaly.spend_spike", "anomaly.conversions_shift", "anomaly.quarantine_spike")
TUESDAYS = dict(zip(pd.date_range("2026-10-06", periods=7, freq="7D").strftime("%Y-%m-%d"),
                    [10, 9, 10, 12, 11, 10, 10]))


def _events() -> pd.DataFrame:
    sends = [(700001, f"{day} 10:00", n) for day, n in TUESDAYS.items()]
    sends += [(700001, "2026-11-18 15:00", 600), (700002, "2026-11-16 09:00", 500)]
    rows = [{"type": "SENT", "recipient": f"p{i}@example.com", "emailCampaignId": email, "created": ms(at),
             "portalId": 1} for email, at, n in sends for i in range(n)]
    return pd.DataFrame(rows).assign(id=lambda f: [f"ev{i:05d}" for i in range(len(f))])


def _ads() -> pd.DataFrame:
    days = pd.date_range("2026-10-02", "2026-11-19", tz="UTC")
    cost = np.where(days == ts("2026-11-19"), 1000.0, 100.0)
    conversions = np.where(days == ts("2026-11-16"), 28.0, 10.0)
    return pd.DataFrame({"campaign.id": "9006", "campaign.name": "Search - Brand", "campaign.status": "ENABLED",
                         "segments.date": days, "metrics.cost_micros": (cost * 1e6).astype("int64"),
                         "metrics.impressions": 1000, "metrics.clicks": 100, "metrics.conversions": conversions})


def _batches() -> pd.DataFrame:
    loaded = [ts(d) + pd.Timedelta(hours=8) for d in pd.date_range("2026-10-09", periods=7, freq="7D").date]
    rows = [("salesforce", at, 100, 30 if at.date() == AS_OF.date() else 1) for at in loaded]
    rows.append(("cdp", ts("2026-11-20 08:00"), 50, 25))  # its first batch: no history to judge it by
    return pd.DataFrame({"batch_id": [f"b{i}" for i in range(len(rows))], "run_id": "r",
                         "integration": [r[0] for r in rows], "platform": [r[0] for r in rows], "entity": "contacts",
                         "loaded_at": [r[1] for r in rows], "rows_read": [r[2] for r in rows],
                         "rows_quarantined": [r[3] for r in rows],
                         "rows_loaded": [r[2] - r[3] for r in rows]})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("anomalies")
    emails = pd.DataFrame({"id": ["700001", "700002"], "name": ["Weekly Digest", "Launch"], "state": "PUBLISHED",
                           "salesforceCampaignId": ["701000000000000001", "701000000000000002"], "updatedAt": AS_OF})
    wh = tiny_warehouse(root, {"hubspot.email_events": _events(), "hubspot.marketing_emails": emails,
                               "google_ads.campaign_stats": _ads()}, batches=_batches())
    build(wh, root / "dbt", POLICY, ["+gov_anomaly__daily_metrics"])
    return mart(wh, "gov_anomaly__daily_metrics").set_index("series_id"), Compiled(root / "dbt")


def test_robust_z_matches_the_hand_count(built):
    got = built[0]
    spike = got.loc["send_volume|700001"]
    assert (spike["anomaly_day"], spike["value"], spike["baseline_n"]) == ("2026-11-18", 600.0, 6)
    assert (spike["baseline_median"], spike["baseline_mad"], spike["scale"], spike["robust_z"]) == (0, 0, 50, 12)
    assert list(spike["detection_values"]) == [0, 0, 0, 0, 10, 600, 0]  # Friday 11-13 .. Thursday 11-19
    assert spike["control_platform"] == "hubspot" and spike["campaign_id"] == "701000000000000001"
    new = got.loc["send_volume|700002"]
    assert new["baseline_n"] == 0 and pd.isna(new["robust_z"])
    spend, conversions = got.loc["ad_spend|9006"], got.loc["conversions|9006"]
    assert (spend["anomaly_day"], spend["baseline_median"], spend["scale"], spend["robust_z"]) == \
        ("2026-11-19", 100.0, 50.0, 18.0)
    assert (conversions["anomaly_day"], conversions["scale"], conversions["robust_z"]) == ("2026-11-16", 3.0, 6.0)
    quarantine = got.loc["quarantine_rate|salesforce"]
    assert quarantine["anomaly_day"] == "2026-11-20" and quarantine["baseline_n"] == 6
    assert quarantine["scale"] == 0.02 and quarantine["robust_z"] == pytest.approx(14.5)
    assert got.loc["quarantine_rate|cdp"]["baseline_n"] == 0


def test_tuesday_sends_inside_their_usual_range_score_zero(built):
    """The Tuesday baseline is 9,10,10,10,11,12: median 10, MAD 0.5; 10 sends is exactly usual."""
    values = list(built[0].loc["send_volume|700001", "detection_values"])
    assert values[4] == 10  # judged, but |z| 0 loses to Wednesday's 12


def _findings(frame: pd.DataFrame) -> dict[tuple[str, str], object]:
    frame = frame.reset_index() if "series_id" not in frame.columns else frame
    return {(check, f.subject): f for check in CHECKS for f in judge(check, POLICY.checks[check], frame, "t", POLICY)}


def test_each_anomaly_becomes_a_finding_and_critical_ones_can_pause(built):
    found = _findings(built[0])
    assert {k: f.severity.value for k, f in found.items()} == {
        ("anomaly.send_volume_spike", "hubspot email 700001"): "critical",
        ("anomaly.spend_spike", "google ads campaign 9006"): "critical",
        ("anomaly.conversions_shift", "google ads campaign 9006"): "warn",
        ("anomaly.quarantine_spike", "salesforce"): "critical"}
    spike = found[("anomaly.send_volume_spike", "hubspot email 700001")]
    assert spike.action == "pause" and spike.target == {"platform": "hubspot", "campaign_id": "700001"}
    assert spike.explanation.startswith("'Weekly Digest' sent 600 emails on 2026-11-18, where the same weekday")
    assert spike.evidence["baseline_values"] == [0, 0, 0, 0, 0, 0]
    assert found[("anomaly.spend_spike", "google ads campaign 9006")].target == \
        {"platform": "google_ads", "campaign_id": "9006"}
    assert found[("anomaly.quarantine_spike", "salesforce")].action == "alert"
    assert found[("anomaly.quarantine_spike", "salesforce")].target is None


# ------------------------------------------------------------------------------------------- properties

SPAN = pd.date_range(end=AS_OF.normalize(), periods=50).date  # the days int_metrics__daily holds
METRICS = ("send_volume", "ad_spend", "conversions", "quarantine_rate")


def _series(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    frames = [pd.DataFrame({"metric": metric, "subject_id": subject, "subject_name": subject,
                            "subject_key": subject, "subject_label": subject, "campaign_id": None,
                            "day": SPAN, "first_day": SPAN[0], "value": vals,
                            "judge_today": metric == "quarantine_rate", "control_platform": None,
                            "control_campaign_id": None}) for (metric, subject), vals in values.items()]
    return pd.concat(frames, ignore_index=True)


def _scores(compiled: Compiled, series: pd.DataFrame) -> pd.DataFrame:
    out = compiled.run("gov_anomaly__daily_metrics", {"staging.int_metrics__daily": series})
    out = out.map(lambda v: tuple(v) if isinstance(v, (list, np.ndarray)) else v)
    return out.sort_values("series_id").reset_index(drop=True)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.tuples(st.sampled_from(METRICS), st.sampled_from("xyz")),
                       st.floats(0, 1e6, allow_nan=False, allow_subnormal=False), min_size=1, max_size=6))
def test_a_flat_series_is_never_an_anomaly(built, levels):
    series = _series({key: [level] * len(SPAN) for key, level in levels.items()})
    scores = _scores(built[1], series)
    assert (scores["robust_z"] == 0).all() and (scores["baseline_n"] == 6).all()
    assert _findings(scores) == {}


VALUES = st.lists(st.integers(0, 2000).map(float), min_size=len(SPAN), max_size=len(SPAN))


@settings(max_examples=60, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=3), st.randoms())
def test_row_order_never_changes_the_scores(built, many, rnd):
    series = _series({("send_volume", f"e{i}"): values for i, values in enumerate(many)})
    shuffled = series.sample(frac=1, random_state=rnd.randint(0, 10**6))
    pd.testing.assert_frame_equal(_scores(built[1], series), _scores(built[1], shuffled))


@settings(max_examples=60, deadline=None)
@given(VALUES, st.integers(1, 7), st.integers(1, 5000))
def test_a_bigger_spike_never_scores_lower(built, values, days_back, extra):
    """Raising one judged day's value can only raise the series' largest z (the scale does not depend on it)."""
    day = len(SPAN) - 1 - days_back
    higher = list(values)
    higher[day] += extra
    base = _scores(built[1], _series({("send_volume", "e"): values})).iloc[0]
    spiked = _scores(built[1], _series({("send_volume", "e"): higher})).iloc[0]
    assert spiked["robust_z"] >= base["robust_z"]
    assert spiked["scale"] >= POLICY.scope.anomaly_min_scale["send_volume"]
