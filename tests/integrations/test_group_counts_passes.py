"""The bias audit reads its source at most twice (issue #15, speed): one counting pass that also yields the proxies'
contingency tables and moments, and one small pass before it for distinct counts and means. Checked against pandas
on data whose answer does not depend on how the passes are split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from steward.contracts.proxies import correlation_ratio
from steward.integrations.warehouse import audit_source, group_counts
from steward.integrations.warehouse.audit_source import open_source
from steward.integrations.warehouse.group_counts import ColumnMap, proxy_aggregates, tally_audit, tally_groups


def _frame(n: int = 900) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    region = rng.choice(["N", "S", "E", None], n)
    return pd.DataFrame({
        "region": region, "score": rng.integers(0, 100, n).astype(float),
        "converted": rng.random(n) < 0.4,
        "channel": rng.choice(["web", "store", None], n),  # categorical input, nulls its own level
        "customer_ref": [f"c{i}" for i in range(n)],  # an identifier: skipped, never grouped by
        # a numeric input far from zero with a small spread: the moments must not lose it to rounding
        "epoch": 1.7e9 + rng.normal(0, 1, n) + np.where(region == "N", 2.0, 0.0),
    })


@pytest.fixture()
def queries(monkeypatch):
    """Every statement the audit runs against its source, in order."""
    seen: list[str] = []
    run, run_at_most = audit_source.Source.run, audit_source.Source.run_at_most

    def spy(self, sql, params=None):
        seen.append(" ".join(sql.split()))
        return run(self, sql, params)

    def spy_at_most(self, sql, params, limit):
        seen.append(" ".join(sql.split()))
        return run_at_most(self, sql, params, limit)

    monkeypatch.setattr(audit_source.Source, "run", spy)
    monkeypatch.setattr(audit_source.Source, "run_at_most", spy_at_most)
    return seen


def _passes(seen: list[str]) -> list[str]:
    """Statements that read the source's rows (not the one-row probe or the view's definition)."""
    return [q for q in seen if not q.startswith(("select 1 from", "create temp view"))]


def test_counts_and_proxies_in_two_passes_match_pandas(tmp_path, queries):
    df = _frame()
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    m = ColumnMap(groups=("region",), score="score", cutoff=50, outcome="converted")
    with open_source(path) as src:
        queries.clear()
        counts, account, agg = tally_audit(src, m)
    assert len(_passes(queries)) == 2  # distinct counts and means, then the counting pass
    want = df.assign(region=df["region"].fillna("(missing)"), pos=df["score"] >= 50)
    got = {c.label: (c.n, c.positives, c.tp, c.fn) for c in counts}
    assert got == {g: (len(x), int(x["pos"].sum()), int((x["pos"] & x["converted"]).sum()),
                       int((~x["pos"] & x["converted"]).sum())) for g, x in want.groupby("region")}
    assert account.audited == len(df) and account.missing_group == {"region": int(df["region"].isna().sum())}
    (table,) = agg.contingencies
    assert table.input == "channel" and dict(table.cells) == {
        (c, r): len(x) for (c, r), x in want.assign(channel=df["channel"].fillna("(missing)"))
        .groupby(["channel", "region"])}
    assert set(agg.skipped) == {"customer_ref"} and "distinct values" in agg.skipped["customer_ref"]
    moments = {gm.input: gm for gm in agg.moments}
    groups = want.groupby("region")["epoch"]
    for moment in moments["epoch"].groups:
        assert moment.n == groups.size()[moment.group]
        assert moment.mean == pytest.approx(groups.mean()[moment.group], abs=1e-6)
        assert moment.var_pop == pytest.approx(groups.var(ddof=0)[moment.group], rel=1e-6)
    eta2 = (groups.size() * (groups.mean() - want["epoch"].mean()) ** 2).sum() / \
        ((want["epoch"] - want["epoch"].mean()) ** 2).sum()
    assert correlation_ratio(moments["epoch"].groups) == pytest.approx(np.sqrt(eta2), rel=1e-6)
    assert correlation_ratio(moments["epoch"].groups) > 0.5  # the 2-unit shift of N stands out of a spread of 1


def test_counts_alone_are_one_pass_and_agree_with_the_proxy_run(tmp_path, queries):
    path = tmp_path / "d.parquet"
    _frame().to_parquet(path)
    m = ColumnMap(groups=("region",), score="score", cutoff=50, outcome="converted")
    with open_source(path) as src:
        queries.clear()
        alone = tally_groups(src, m)
        assert len(_passes(queries)) == 1
        together = tally_audit(src, m)
        assert set(alone[0]) == set(together[0]) and alone[1] == together[1]  # row order is DuckDB's
        assert _rounded(proxy_aggregates(src, m)) == _rounded(together[2])


def _rounded(agg):
    """The aggregates with each moment's mean and variance to 9 significant digits: DuckDB sums a group's values in
    whatever order its threads meet them, so two passes over the same rows may differ in the last bits."""
    def moment(x):
        return x.__class__(x.group, x.n, *(None if v is None else float(f"{v:.9g}") for v in (x.mean, x.var_pop)))
    moments = [gm.__class__(gm.input, gm.protected, tuple(moment(x) for x in gm.groups)) for gm in agg.moments]
    return agg.__class__(agg.contingencies, moments, agg.skipped)


def test_a_grouped_table_too_big_for_python_is_rolled_up_by_duckdb_with_the_same_answer(tmp_path, monkeypatch):
    path = tmp_path / "d.parquet"
    _frame().to_parquet(path)
    m = ColumnMap(groups=("region",), score="score", cutoff=50, outcome="converted")
    with open_source(path) as src:
        small = tally_audit(src, m)
        monkeypatch.setattr(group_counts, "_FINE_ROWS", 3)
        big = tally_audit(src, m)
    assert set(small[0]) == set(big[0]) and small[1] == big[1]
    assert small[2].contingencies == big[2].contingencies and small[2].skipped == big[2].skipped
    for a, b in zip(small[2].moments, big[2].moments):
        assert [(g.group, g.n) for g in a.groups] == [(g.group, g.n) for g in b.groups]
        assert [g.mean for g in a.groups] == pytest.approx([g.mean for g in b.groups], rel=1e-12)
        assert [g.var_pop for g in a.groups] == pytest.approx([g.var_pop for g in b.groups], rel=1e-9)


def test_an_input_with_more_than_max_levels_is_skipped_with_its_exact_count(tmp_path):
    df = pd.DataFrame({"g": ["a", "b"] * 60, "s": range(120), "code": [f"k{i % 60}" for i in range(120)]})
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    with open_source(path) as src:
        agg = proxy_aggregates(src, ColumnMap(groups=("g",), score="s", cutoff=10))
    assert agg.contingencies == [] and agg.skipped["code"].startswith("60 distinct values (more than 50")
