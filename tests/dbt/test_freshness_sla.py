"""A policy whose freshness SLA names only a default: every platform is judged against it (the mart's SQL once had
a CASE with no WHEN, a syntax error, when no platform was named)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.tiny import AS_OF, build, mart, tiny_policy, tiny_warehouse, ts


@pytest.mark.parametrize("sla, expected", [({"default": 24}, 24), ({"default": 24, "cdp": 6}, 6)])
def test_a_default_only_sla_applies_to_every_platform(tmp_path, sla, expected):
    profiles = pd.DataFrame({"profile_id": ["p1"], "email": ["a@x.io"], "updated_at": [ts("2026-11-19 12:00")]})
    wh = tiny_warehouse(tmp_path, {"cdp.profiles": profiles})
    build(wh, tmp_path / "work", tiny_policy(freshness_sla_hours=sla), ["+gov_integration_health__freshness"])
    got = mart(wh, "gov_integration_health__freshness").set_index("platform")
    assert got.loc["cdp", "sla_hours"] == expected
    assert got.loc["cdp", "staleness_ratio"] == pytest.approx((AS_OF - ts("2026-11-19 12:00")).total_seconds()
                                                              / 3600 / expected)
