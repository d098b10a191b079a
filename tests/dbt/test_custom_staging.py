"""Steward's canonical entities (``platform: custom``) land in their raw tables and stage per system: two custom
integrations share a raw table and stay apart by the integration's name."""

from __future__ import annotations

import pandas as pd

from tests.tiny import build, tiny_policy, tiny_warehouse, ts


def test_custom_entities_stage_per_system(tmp_path):
    people = pd.DataFrame({"person_id": ["p1", "p2"], "email": [" Ana@Example.com", None],
                           "age": [31.0, None], "gender": ["F", None], "email_opt_out": [True, None],
                           "updated_at": [ts("2026-11-01"), ts("2026-11-02")]})
    touches = pd.DataFrame({"touch_id": ["t1"], "person_id": ["p1"], "email": ["ana@example.com"],
                            "channel": ["Email"], "campaign_id": ["c9"], "touched_at": [ts("2026-11-03")]})
    wh = tiny_warehouse(tmp_path, {"custom.people": people, "custom.touches": touches})
    with wh.connect() as con:  # a second custom system with the same person id: a record of its own
        con.execute("insert into raw.custom__people (person_id, email, updated_at, _batch_id, _integration, "
                    "_loaded_at) values ('p1', 'bo@example.com', timestamptz '2026-11-01', 'b2', 'braze', "
                    "timestamptz '2026-11-20')")
    build(wh, tmp_path / "work", tiny_policy(), ["stg_custom__people", "stg_custom__touches"])
    got = wh.query_df("select person_key, system, email_key, age, gender, is_email_opted_out "
                      "from staging.stg_custom__people order by person_key")
    assert got["person_key"].tolist() == ["braze:p1", "custom:p1", "custom:p2"]
    assert got["email_key"].tolist()[:2] == ["bo@example.com", "ana@example.com"]
    assert got["gender"].tolist()[1] == "F"  # codes are not judged in staging: policy codings report unknown ones
    touched = wh.query_df("select touch_key, system, channel from staging.stg_custom__touches")
    assert touched.to_dict("records") == [{"touch_key": "custom:t1", "system": "custom", "channel": "email"}]
