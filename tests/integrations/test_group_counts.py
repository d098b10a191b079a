"""Group counts and proxy aggregates from CSV, Parquet, JSON and DuckDB sources, checked by hand and by fairlearn."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.contracts.fairness import GroupCounts, Thresholds, audit_dimension
from steward.contracts.proxies import cramers_v, correlation_ratio
from steward.integrations.warehouse.audit_source import open_source, quote_ident
from steward.contracts.errors import ConfigError, SourceError
from steward.integrations.warehouse.group_counts import (ColumnMap, Missing, RowAccount, count_groups,
                                                          proxy_aggregates, tally_groups)

# 10 people; by hand: F = rows 0-4, M = rows 5-9; score >= 50 marks rows 0, 1, 2, 5, 9.
ROWS = pd.DataFrame({
    "gender": ["F", "F", "F", "F", "F", "M", "M", "M", "M", None],
    "age_band": ["18-34", "18-34", "35+", "35+", "35+", "18-34", "18-34", "35+", "35+", "35+"],
    "score": [90.0, 70.0, 50.0, 20.0, 10.0, 55.0, 30.0, 40.0, 45.0, 99.0],
    "band": ["A", "B", "B", "D", "D", "B", "C", "C", "D", "A"],
    "converted": [True, False, True, True, False, True, None, False, True, True],
})


def write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif path.suffix == ".json":
        df.to_json(path, orient="records", lines=False)
    else:
        with duckdb.connect(str(path)) as con:
            con.execute("create schema if not exists crm")
            con.register("frame", df)
            con.execute("create or replace table crm.scored as select * from frame")
    return path


def counts(path: Path, mapping: ColumnMap, table: str | None = None) -> dict[tuple, GroupCounts]:
    with open_source(path, table) as src:
        return {(c.dimension, c.label): c for c in count_groups(src, mapping)}


@pytest.mark.parametrize("name,table", [("s.csv", None), ("s.parquet", None), ("s.json", None),
                                        ("w.duckdb", "crm.scored")])
def test_hand_counted_score_cutoff_with_outcome(tmp_path, name, table):
    m = ColumnMap(groups=("gender", "age_band"), score="score", cutoff=50, outcome="converted", intersect=True)
    got = counts(write(ROWS, tmp_path / name), m, table)
    f = got[("gender", "F")]
    # F: selected rows 0 (conv), 1 (not), 2 (conv); not selected 3 (conv), 4 (not)
    assert (f.n, f.positives, f.tp, f.fp, f.fn, f.tn) == (5, 3, 2, 1, 1, 1)
    m_ = got[("gender", "M")]
    # M: selected row 5 (conv); not selected 6 (unknown outcome), 7 (not), 8 (conv)
    assert (m_.n, m_.positives, m_.tp, m_.fp, m_.fn, m_.tn) == (4, 1, 1, 0, 1, 1)
    # row 9 has no gender: its own group "(missing)" (it was "unknown" before #15)
    assert (got[("gender", "(missing)")].n, got[("gender", "(missing)")].positives) == (1, 1)
    inter = got[("gender x age_band", "F / 35+")]
    assert inter.values == ("F", "35+") and (inter.n, inter.positives, inter.tp, inter.fn, inter.tn) == (3, 1, 1, 1, 1)
    assert sum(c.n for (d, _), c in got.items() if d == "age_band") == 10
    assert {d for d, _ in got} == {"gender", "age_band", "gender x age_band"}


def test_categorical_decision_with_several_positive_bands(tmp_path):
    m = ColumnMap(groups=("age_band",), decision="band", positive=("A", "B"))
    got = counts(write(ROWS, tmp_path / "s.parquet"), m)
    assert (got[("age_band", "18-34")].n, got[("age_band", "18-34")].positives) == (4, 3)
    assert (got[("age_band", "35+")].n, got[("age_band", "35+")].positives) == (6, 2)
    assert got[("age_band", "35+")].tp is None


def test_outcome_values_named_explicitly(tmp_path):
    df = ROWS.assign(result=np.where(ROWS["converted"] == True, "won", "lost"))  # noqa: E712
    m = ColumnMap(groups=("gender",), score="score", cutoff=50, outcome="result", outcome_positive=("won",))
    f = counts(write(df, tmp_path / "s.csv"), m)[("gender", "F")]
    assert (f.tp, f.fp, f.fn, f.tn) == (2, 1, 1, 1)


def test_odd_names_and_values_are_quoted_and_bound(tmp_path):
    df = pd.DataFrame({'we"ird; drop': ["x", "y", "x"], "d": ["O'Brien", "no", "O'Brien"]})
    m = ColumnMap(groups=('we"ird; drop',), decision="d", positive=("O'Brien",))
    got = counts(write(df, tmp_path / "s.parquet"), m)
    assert got[('we"ird; drop', "x")].positives == 2
    assert quote_ident('a"b') == '"a""b"'


@pytest.mark.parametrize("mapping,message", [
    (dict(groups=("gendr",), score="score", cutoff=1.0), "no column 'gendr' (columns: gender, age_band, score"),
    (dict(groups=("gender",), score="band", cutoff=1.0), "score column 'band' is VARCHAR, not a number"),
    (dict(groups=("gender",), decision="band", positive=("Z",)), "no row of 'band' is in --positive ['Z'] "
                                                                  "(values: A, B, C, D)"),
    (dict(groups=("gender",), score="score", cutoff=1.0, outcome="band"), "no row of outcome 'band' counts"),
])
def test_bad_mapping_is_one_line_naming_file_and_column(tmp_path, mapping, message):
    path = write(ROWS, tmp_path / "s.csv")
    with pytest.raises(SourceError) as exc:
        counts(path, ColumnMap(**mapping))
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value) and "\n" not in str(exc.value)


def test_mapping_needs_one_positive_rule():
    with pytest.raises(ConfigError, match="either a score and a cut-off"):
        ColumnMap(groups=("g",))
    with pytest.raises(ConfigError, match="needs a cut-off"):
        ColumnMap(groups=("g",), score="s")
    with pytest.raises(ConfigError, match="needs the values that count as positive"):
        ColumnMap(groups=("g",), decision="d")


def test_bad_sources(tmp_path):
    with pytest.raises(SourceError, match="file not found"):
        counts(tmp_path / "nope.csv", ColumnMap(groups=("g",), score="s", cutoff=1))
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(SourceError, match=r"unsupported file type '.xlsx' \(supported: .csv"):
        counts(tmp_path / "x.xlsx", ColumnMap(groups=("g",), score="s", cutoff=1))
    db = write(ROWS, tmp_path / "w.duckdb")
    with pytest.raises(SourceError, match=r"no table 'crm.leads' \(tables: crm.scored\)"):
        counts(db, ColumnMap(groups=("g",), score="s", cutoff=1), "crm.leads")
    with pytest.raises(SourceError, match="needs --table"):
        counts(db, ColumnMap(groups=("g",), score="s", cutoff=1))


def test_proxy_aggregates_match_pandas(tmp_path):
    rng = np.random.default_rng(3)
    n = 600
    region = rng.choice(["N", "S", "E"], n)
    df = pd.DataFrame({"region": region, "score": rng.random(n),
                       "postcode": np.where(rng.random(n) < 0.9, np.char.add("P", region), "P?"),
                       "income": rng.normal(0, 1, n) + (region == "N") * 3,
                       "noise": rng.normal(0, 1, n), "id": [f"c{i}" for i in range(n)],
                       "seen_at": pd.Timestamp("2024-01-01")})
    m = ColumnMap(groups=("region",), score="score", cutoff=0.5)
    with open_source(write(df, tmp_path / "p.parquet")) as src:
        agg = proxy_aggregates(src, m)
    (cont,) = agg.contingencies
    assert cont.input == "postcode" and sum(cont.cells.values()) == n
    assert dict(cont.cells) == {k: int(v) for k, v in df.groupby(["postcode", "region"]).size().items()}
    assert cramers_v(cont.cells) > 0.8
    moments = {gm.input: gm for gm in agg.moments}
    eta2 = df.groupby("region")["income"].mean().pipe(
        lambda means: (df.groupby("region").size() * (means - df["income"].mean()) ** 2).sum()
        / ((df["income"] - df["income"].mean()) ** 2).sum())
    assert correlation_ratio(moments["income"].groups) == pytest.approx(np.sqrt(eta2), rel=1e-9)
    assert correlation_ratio(moments["noise"].groups) < 0.2
    assert set(agg.skipped) == {"id", "seen_at"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xy"), st.integers(0, 100),
                          st.booleans()), min_size=1, max_size=60), st.randoms(use_true_random=False))
def test_permuting_rows_does_not_change_counts(rows, rnd):
    df = pd.DataFrame(rows, columns=["g", "h", "score", "y"])
    shuffled = df.sample(frac=1, random_state=rnd.randint(0, 2**31)).reset_index(drop=True)
    m = ColumnMap(groups=("g", "h"), score="score", cutoff=50, outcome="y", intersect=True)
    with tempfile.TemporaryDirectory() as tmp:
        a = counts(write(df, Path(tmp) / "a.parquet"), m)
        b = counts(write(shuffled, Path(tmp) / "b.parquet"), m)
    assert a == b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_metrics_agree_with_fairlearn(tmp_path, seed):
    """selection rate, TPR and FPR per group (each column and the intersection) equal fairlearn's MetricFrame."""
    fl = pytest.importorskip("fairlearn.metrics")
    rng = np.random.default_rng(seed)
    n = 3000
    df = pd.DataFrame({"age": rng.choice(["18-24", "25-44", "45+"], n, p=[0.2, 0.5, 0.3]),
                       "sex": rng.choice(["F", "M"], n), "score": rng.random(n)})
    df["y"] = rng.random(n) < np.where(df["age"] == "45+", 0.3, 0.6)
    df.loc[df["age"] == "45+", "score"] *= 0.7
    m = ColumnMap(groups=("age", "sex"), score="score", cutoff=0.5, outcome="y", intersect=True)
    with open_source(write(df, tmp_path / "r.parquet")) as src:
        found = count_groups(src, m)
    y_pred = (df["score"] >= 0.5).astype(int)
    metrics = {"selection_rate": fl.selection_rate, "tpr": fl.true_positive_rate, "fpr": fl.false_positive_rate,
               "count": fl.count}
    for cols in (["age"], ["sex"], ["age", "sex"]):
        frame = fl.MetricFrame(metrics=metrics, y_true=df["y"].astype(int), y_pred=y_pred,
                               sensitive_features=df[cols])
        result = audit_dimension([c for c in found if list(c.columns) == cols], Thresholds(min_group_size=0))
        for r in result.groups:
            key = r.counts.values if len(cols) > 1 else r.counts.values[0]
            expected = frame.by_group.loc[key]
            assert r.counts.n == expected["count"]
            assert r.selection.value == pytest.approx(expected["selection_rate"], abs=1e-12)
            assert r.tpr.value == pytest.approx(expected["tpr"], abs=1e-12)
            assert r.fpr.value == pytest.approx(expected["fpr"], abs=1e-12)
        kwargs = dict(y_true=df["y"].astype(int), y_pred=y_pred, sensitive_features=df[cols])
        assert result.demographic_parity_difference == pytest.approx(fl.demographic_parity_difference(**kwargs))
        assert result.demographic_parity_ratio == pytest.approx(fl.demographic_parity_ratio(**kwargs))
        assert result.equalized_odds_difference == pytest.approx(fl.equalized_odds_difference(**kwargs))


# Missing values (#15 item 3). By hand, cut-off 50, direction above (score >= 50):
#   row  g        score  won    -> decided? selected?
#   0    x        80     True      yes      yes   tp
#   1    x        20     False     yes      no    tn
#   2    x        None   True      NO: out of every count (missing decision)
#   3    None     90     None      yes      yes   outcome unknown: in n, out of tp..tn
#   4    None     10     True      yes      no    fn
#   5    unknown  70     False     yes      yes   fp
#   6    unknown  None   True      NO (missing decision)
#   7    x        60     None      yes      yes   outcome unknown
# x: n 3, positives 2 (rows 0, 7), tp 1, fp 0, fn 0, tn 1; (missing): n 2, pos 1, tp 0 fp 0 fn 1 tn 0;
# unknown: n 1, pos 1, fp 1. Rows 8, audited 6, missing decision 2, missing outcome 2 (rows 3, 7), missing g 2.
MISSING_ROWS = pd.DataFrame({
    "g": ["x", "x", "x", None, None, "unknown", "unknown", "x"],
    "score": [80.0, 20.0, None, 90.0, 10.0, 70.0, None, 60.0],
    "won": [True, False, True, None, True, False, True, None],
})


def write_any(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".ndjson":
        df.to_json(path, orient="records", lines=True)
        return path
    return write(df, path)


def tally(path: Path, mapping: ColumnMap):
    with open_source(path) as src:
        found, account = tally_groups(src, mapping)
    return {c.label: c for c in found}, account


@pytest.mark.parametrize("name", ["m.csv", "m.parquet", "m.ndjson"])
def test_null_and_unknown_are_separate_groups_and_exclusions_are_counted(tmp_path, name):
    m = ColumnMap(groups=("g",), score="score", cutoff=50, outcome="won")
    got, account = tally(write_any(MISSING_ROWS, tmp_path / name), m)
    assert set(got) == {"x", "(missing)", "unknown"}
    cells = {k: (c.n, c.positives, c.tp, c.fp, c.fn, c.tn) for k, c in got.items()}
    assert cells == {"x": (3, 2, 1, 0, 0, 1), "(missing)": (2, 1, 0, 0, 1, 0), "unknown": (1, 1, 0, 1, 0, 0)}
    assert isinstance(got["(missing)"].values[0], Missing) and not isinstance(got["unknown"].values[0], Missing)
    assert account == RowAccount(rows=8, audited=6, missing_decision=2, missing_outcome=2, missing_group={"g": 2})


def test_missing_decision_is_excluded_not_counted_as_not_selected(tmp_path):
    """A categorical decision: a null decision is out of n (it used to count as 'not selected')."""
    df = pd.DataFrame({"g": ["a", "a", "a", "b", "b"], "d": ["yes", None, "no", "yes", None]})
    got, account = tally(write(df, tmp_path / "d.parquet"), ColumnMap(groups=("g",), decision="d", positive=("yes",)))
    # a: rows 0 (yes), 2 (no) -> n 2, 1 selected (rate 0.5, not 1/3); b: row 3 -> n 1, 1 selected
    assert {k: (c.n, c.positives) for k, c in got.items()} == {"a": (2, 1), "b": (1, 1)}
    assert (account.audited, account.missing_decision, account.missing_outcome) == (3, 2, None)


def test_score_direction_below_and_inclusive_cutoff(tmp_path):
    path = write(MISSING_ROWS, tmp_path / "m.parquet")
    # below 50 (score <= 50): x row 1 (20, lost) -> fp; row 0 (80, won) -> fn; row 7 (60, unknown outcome).
    # (missing): row 4 (10, won) -> tp; row 3 (90, unknown). unknown: row 5 (70, lost) -> tn.
    got, _ = tally(path, ColumnMap(groups=("g",), score="score", cutoff=50, outcome="won", direction="below"))
    cells = {k: (c.n, c.positives, c.tp, c.fp, c.fn, c.tn) for k, c in got.items()}
    assert cells == {"x": (3, 1, 0, 1, 1, 0), "(missing)": (2, 1, 1, 0, 0, 0), "unknown": (1, 0, 0, 0, 0, 1)}
    # the cut-off itself is positive both ways: x at cut-off 60 selects rows 0 and 7 above, rows 1 and 7 below
    for direction, expected in (("above", 2), ("below", 2)):
        got, _ = tally(path, ColumnMap(groups=("g",), score="score", cutoff=60, direction=direction))
        assert got["x"].positives == expected
    got, _ = tally(path, ColumnMap(groups=("g",), score="score", cutoff=60.5, direction="above"))
    assert got["x"].positives == 1  # row 0 only: 60 < 60.5


def test_direction_is_checked():
    with pytest.raises(ConfigError, match="--direction must be above or below, not 'up'"):
        ColumnMap(groups=("g",), score="s", cutoff=1, direction="up")
    with pytest.raises(ConfigError, match="--direction applies to --score"):
        ColumnMap(groups=("g",), decision="d", positive=("y",), direction="below")


def test_null_and_literal_missing_label_in_one_column_is_refused(tmp_path):
    df = pd.DataFrame({"g": ["(missing)", None, "a"], "score": [1.0, 2.0, 3.0]})
    path = write(df, tmp_path / "c.parquet")
    with pytest.raises(SourceError) as exc:
        tally(path, ColumnMap(groups=("g",), score="score", cutoff=2))
    assert str(exc.value) == (f"{path}: column 'g' holds both missing values and the text '(missing)', which would "
                              "be two groups with one label; rename that value")


def test_every_score_missing_is_one_line(tmp_path):
    df = pd.DataFrame({"g": ["a", "b"], "score": [None, None]}).astype({"score": "float64"})
    path = write(df, tmp_path / "n.parquet")
    with pytest.raises(SourceError, match=r"no row has a value in 'score' \(all 2 rows are missing it\)"):
        tally(path, ColumnMap(groups=("g",), score="score", cutoff=2))
