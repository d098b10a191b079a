"""Contracts compiled to DuckDB SQL judge rows exactly as pandera does: same failing rows, same labels, same counts.

pandera (``validate_pandera``, the path ``check_batch`` took before) is the oracle. Every registered contract gets
frames whose cells are drawn from values that pass and values that break each of its checks (nulls, values outside a
set or range, strings a regex must refuse or, with Python's meaning, accept), small pools so keys repeat.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steward.contracts.registry import SOURCE_CONTRACTS, contract_for
from steward.contracts.source_checks import coerce, validate_pandera
from steward.integrations.warehouse.sql_checks import DATAFRAME_CHECK_SQL, compile_contract, failing_rows, python_regex_to_re2
from steward.integrations.warehouse.validation import _validate, validate_table
from steward.contracts.errors import SourceError
from steward.contracts.batch import Batch, Stream

T1, T2 = "2026-01-01T00:00:00Z", "2026-06-01T08:30:00Z"
# regex pattern -> values that pass and values that fail it, including where Python's re and RE2 differ
REGEX_POOLS = {
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": (["a@x.io", "b.c@y.org", "a@x.io\n"], ["not-an-email", "a\u00a0b@x.io", "a\x0b@x.io"]),
    r"^\d+$": (["123", "9", "\u0661\u0662", "7\n"], ["12a", "", " 1"]),
    r"^[0-9a-f]{64}$": (["a" * 64, "0f" * 32], ["A" * 64, "a" * 63]),
}


def _stream(key: str) -> Stream:
    platform, entity = key.split(".")
    keys = contract_for(key).schema().unique or ["id"]
    return Stream(platform, entity, f"{entity}.csv", "csv", ",".join(keys), keys[0])


def _pool(col: pa.Column) -> list:
    dtype = str(col.dtype)
    if dtype.startswith("datetime"):
        good, bad = [T1, T2], []
    elif dtype == "boolean":
        good, bad = [True, False], []
    elif dtype in ("Int64", "float64"):
        good, bad = [1, 5], []
    else:
        good, bad = ["k1", "k2"], []
    for check in col.checks:
        stats = check.statistics or {}
        if check.name == "isin":
            good, bad = list(stats["allowed_values"])[:3], ["bogus" if isinstance(good[0], str) else 999]
        elif check.name == "str_startswith":
            good, bad = [stats["string"] + "1", stats["string"] + "2"], ["X" + stats["string"]]
        elif check.name == "str_matches":
            good, bad = REGEX_POOLS[stats["pattern"]]
        elif check.name in ("greater_than", "greater_than_or_equal_to"):
            bad = bad + [stats["min_value"] - 1] + ([stats["min_value"]] if check.name == "greater_than" else [])
            good = good + ([stats["min_value"]] if check.name == "greater_than_or_equal_to" else [])
        elif check.name == "less_than_or_equal_to":
            good, bad = [v for v in good if v <= stats["max_value"]] + [stats["max_value"]], bad + [stats["max_value"] * 2 + 1]
    return good + bad + [None]


def _frames(schema: pa.DataFrameSchema):
    cols = {name: st.sampled_from(_pool(col)) for name, col in schema.columns.items()}
    return st.lists(st.fixed_dictionaries(cols), min_size=1, max_size=8).map(
        lambda rows: pd.DataFrame(rows, columns=list(schema.columns)).astype("object"))


def _batch(key: str, frame: pd.DataFrame) -> Batch:
    return Batch("it", _stream(key), frame, f"{key}.file", "f")


def _sql_and_pandera(key: str, frame: pd.DataFrame):
    """Both verdicts, or (None, None) when both refuse the whole batch, with the same message."""
    schema = contract_for(key).schema()
    try:
        oracle = validate_pandera(schema, frame, _batch(key, frame))
    except SourceError as err:
        with pytest.raises(SourceError) as refused:
            _validate(schema, frame, _batch(key, frame))
        assert str(refused.value) == str(err)
        return None, None
    return _validate(schema, frame, _batch(key, frame)), oracle


def _reasons(bad: pd.DataFrame) -> dict[int, str]:
    return {} if not len(bad) else {int(i): r for i, r in bad["_reasons"].items()}


@pytest.mark.parametrize("key", sorted(SOURCE_CONTRACTS))
def test_sql_and_pandera_agree_on_every_contract(key):
    schema = contract_for(key).schema()

    @settings(max_examples=12, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_frames(schema))
    def agree(frame):
        sql, oracle = _sql_and_pandera(key, frame)
        if oracle is None:  # both refused the file (a dataframe check met NA next to a failure)
            return
        assert _reasons(sql[1]) == _reasons(oracle[1])
        assert sql[2] == oracle[2]
        pd.testing.assert_frame_equal(sql[0], oracle[0])

    agree()


@pytest.mark.parametrize("key", sorted(SOURCE_CONTRACTS))
def test_each_check_of_each_contract_is_reported_by_sql(key):
    """Rows 0 and 1 use the first passing values; every later row breaks one column with one bad value (nulls in a
    frame of their own, so a dataframe check's NA never meets a failure and refuses the batch)."""
    schema = contract_for(key).schema()
    pools = {name: _pool(col) for name, col in schema.columns.items()}
    base = [{n: p[0] for n, p in pools.items()}, {n: p[1] for n, p in pools.items()}]
    bad_rows, null_rows = list(base), list(base)
    for name, col in schema.columns.items():
        n_bad = len(col.checks) + (1 if col.checks and col.checks[0].name == "str_matches" else 0)
        for bad in pools[name][len(pools[name]) - 1 - n_bad:-1]:
            bad_rows.append({**base[len(bad_rows) % 2], name: bad})
        null_rows.append({**base[len(null_rows) % 2], name: None})
    seen: set[str] = set()
    for rows in (bad_rows, null_rows):
        sql, oracle = _sql_and_pandera(key, pd.DataFrame(rows, dtype="object"))
        assert oracle is not None
        assert _reasons(sql[1]) == _reasons(oracle[1]) and sql[2] == oracle[2]
        seen |= {label.split(": ", 1)[1] for label in sql[2]}
    for col in schema.columns.values():
        for check in col.checks:
            assert check.error in seen, (key, check.error)
        if not col.nullable:
            assert "not_nullable" in seen


def test_every_registered_dataframe_check_and_check_compiles_without_fallback():
    for contract in SOURCE_CONTRACTS.values():
        schema = contract.schema()
        assert compile_contract(schema, "t").fallback == []
        for check in schema.checks:
            assert f"{schema.name}.{check.name}" in DATAFRAME_CHECK_SQL


def test_an_unknown_check_falls_back_to_pandera_for_that_check_only():
    schema = pa.DataFrameSchema({"a": pa.Column(str, checks=[pa.Check(lambda s: s.str.len() < 3, name="short"),
                                                             pa.Check.isin(["x", "yyyy"])])})
    compiled = compile_contract(schema, "t")
    assert [c.name for _, c in compiled.fallback] == ["short"]
    frame = pd.DataFrame({"a": ["x", "yyyy", "zz"]})
    batch = Batch("it", _stream("salesforce.contacts"), frame, "f.csv", "f")
    _, bad, counts = _validate(schema, frame, batch)
    assert _reasons(bad) == {1: "a: short", 2: "a: isin(['x', 'yyyy'])"}
    assert counts == {"a: short": 1, "a: isin(['x', 'yyyy'])": 1}


def test_regexes_keep_their_python_meaning_or_fall_back():
    assert python_regex_to_re2(r"^\d+$") == r"^[\p{Nd}]+(?:\n?$)"
    for pattern in [r"(?=a)b", r"(a)\1", r"\bword", r"\S+"]:
        with pytest.raises(ValueError):
            python_regex_to_re2(pattern)


def test_validate_table_judges_a_warehouse_table_in_place_with_the_same_labels(tmp_path):
    frame = pd.DataFrame({"id": ["1", "2", "2", "x", None], "type": ["OPEN", "OPEN", "BAD", "SENT", "SENT"],
                          "recipient": ["a@x.io", "b@x.io", "c@x.io", "nope", "d@x.io"],
                          "emailCampaignId": [1, None, 2, 3, 4], "created": [5, 5, 0, 5, 5], "portalId": [1] * 5})
    coerced = coerce(contract_for("hubspot.email_events").schema(), frame)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.register("f", coerced)
        con.execute('create schema raw; create table raw."hubspot__email_events" as select * from f')
        verdict = validate_table(con, 'raw."hubspot__email_events"', contract_for("hubspot.email_events"))
    assert verdict.rows == 5
    assert dict(zip(verdict.failing["__row"], verdict.failing["reasons"])) == {
        2: "created: greater_than(0); id: multiple_fields_uniqueness; "
           "type: isin(['SENT', 'PROCESSED', 'DELIVERED', 'DEFERRED', 'DROPPED', 'BOUNCE', 'OPEN', 'CLICK', "
           "'STATUSCHANGE', 'SPAMREPORT', 'SUPPRESSED', 'UNBOUNCE', 'PRINT', 'FORWARD'])",
        3: "recipient: str_matches('^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$')",
        4: "id: not_nullable"}
    _, _, pandera_by_check = validate_pandera(contract_for("hubspot.email_events").schema(), frame,
                                               _batch("hubspot.email_events", frame))
    assert verdict.by_check == pandera_by_check


def test_validate_table_casts_a_column_stored_as_text_and_names_values_that_do_not_cast(tmp_path):
    with duckdb.connect() as con:
        con.execute("create table ev as select * from (values ('1', 'OPEN', 'a@x.io', 1, '5', 1), "
                    "('2', 'OPEN', 'b@x.io', 1, 'soon', 1), ('3', 'OPEN', 'c@x.io', 1, '-2', 1)) "
                    "t(id, type, recipient, emailCampaignId, created, portalId)")
        verdict = validate_table(con, "ev", contract_for("hubspot.email_events"))
    assert dict(zip(verdict.failing["__row"], verdict.failing["reasons"])) == {
        1: "created: coerce_dtype('Int64'); created: dtype('Int64')", 2: "created: greater_than(0)"}


def test_the_compiled_query_runs_alone_and_returns_row_numbers_and_label_lists():
    schema = contract_for("salesforce.campaign_members").schema()
    with duckdb.connect() as con:
        con.execute("create table cm as select * from (values ('00v1', '7011', '0031', NULL, 's', "
                    "TIMESTAMPTZ '2026-01-01', TIMESTAMPTZ '2026-01-01'), ('00v2', '7011', NULL, NULL, 's', "
                    "TIMESTAMPTZ '2026-01-01', NULL)) t(Id, CampaignId, ContactId, LeadId, Status, CreatedDate, "
                    "SystemModstamp)")
        compiled = compile_contract(schema, "(select *, rowid as __row from cm)")
        rows = con.execute(compiled.sql).fetchall()
        reasons, counts = failing_rows(con, compiled)
    label = "a campaign member references exactly one of ContactId or LeadId"
    assert rows == [(1, ["SystemModstamp: not_nullable", f"Id: {label}", f"CampaignId: {label}",
                         f"Status: {label}", f"CreatedDate: {label}"])]
    assert counts[f"Id: {label}"] == 1 and "ContactId: " + label not in counts
