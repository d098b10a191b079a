"""Helpers for the Salesforce adapter tests: read what landed, compare two warehouses, point simple-salesforce at
the loopback emulator."""

from __future__ import annotations

import pandas as pd
import requests
from requests.adapters import HTTPAdapter

from steward.contracts.registry import contract_for
from steward.integrations.warehouse import Warehouse

ENTITIES = ["accounts", "contacts", "leads", "opportunities", "campaigns", "campaign_members"]


def raw(wh: Warehouse, entity: str, columns: list[str] | None = None) -> pd.DataFrame:
    """The contract columns of one raw table, ordered by key (empty when nothing landed)."""
    cols = columns or contract_for(f"salesforce.{entity}").columns()
    with wh.connect() as con:
        exists = con.execute("select count(*) from information_schema.tables where table_schema = 'raw' "
                             "and table_name = ?", [f"salesforce__{entity}"]).fetchone()[0]
        if not exists:
            return pd.DataFrame(columns=cols)
        select = ", ".join(f'"{c}"' for c in cols)
        return con.execute(f'select {select} from raw."salesforce__{entity}" order by "Id"').df()


def scalar(wh: Warehouse, sql: str, params: list | None = None):
    with wh.connect() as con:
        return con.execute(sql, params or []).fetchone()[0]


def watermark(wh: Warehouse, entity: str) -> str | None:
    return scalar(wh, "select max(cursor_value) from ledger.watermarks where entity = ?", [entity])


def max_cursor(frame: pd.DataFrame) -> str:
    """The greatest SystemModstamp, in the fixed-width text form watermarks use."""
    stamp = pd.Timestamp(frame["SystemModstamp"].max()).tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def assert_same_rows(api: Warehouse, export: Warehouse, entity: str, skip: tuple[str, ...] = ()) -> None:
    """Same keys, same values in every contract column (but ``skip``), no duplicate keys."""
    cols = [c for c in contract_for(f"salesforce.{entity}").columns() if c not in skip]
    with api.pinned():  # read with the checks after it (``watermark``, ``raw``) in one open when the caller pins
        got = raw(api, entity, cols)
    want = raw(export, entity, cols)
    assert got["Id"].is_unique, f"{entity}: duplicate keys in raw"
    assert got["Id"].tolist() == want["Id"].tolist(), f"{entity}: different keys landed"
    pd.testing.assert_frame_equal(_comparable(got), _comparable(want), obj=entity)


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Values, not storage types: both paths land contract-coerced data, but pandas may widen a dtype differently."""
    return frame.astype("object").where(frame.notna(), None).reset_index(drop=True)


class _Loopback(HTTPAdapter):
    """simple-salesforce always builds https:// URLs; the emulator speaks plain HTTP on 127.0.0.1."""

    def send(self, request, **kwargs):  # type: ignore[override]
        request.url = "http://" + request.url.removeprefix("https://")
        return super().send(request, **kwargs)


def loopback_session(base_url: str) -> requests.Session:
    session = requests.Session()
    session.mount(base_url.replace("http://", "https://"), _Loopback())
    return session
