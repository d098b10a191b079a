"""The warehouse layer's own suites again, on PostgreSQL (issue #13, item 5): the same test functions with the same
assertions, collected here with this module's ``wh`` fixture, a fresh database on the session's server. What they
cover on a server: the outbox and incidents (upserts, ``= ANY`` for ``list_contains``, threads), the health ledger
(``health_store``: probes, streaks, the latest row per integration), the report's and the launch audit's reads
(quarantine reasons split and grouped, ``health_gate`` upserts), the launch verdict's JSON, and revalidation (a
DuckDB copy judged, the failing rows moved by ``ctid``)."""

from __future__ import annotations

import pytest

from steward.integrations.warehouse import Warehouse

import test_health as _health
import test_incidents as _incidents
import test_revalidation as _revalidation
import test_warehouse_layer as _layer

# the other modules' fixtures this module's tests need (the emulators, the demo credentials)
from test_health import demo_env, hs, sf  # noqa: F401


@pytest.fixture
def wh(pg_server) -> Warehouse:
    return Warehouse(pg_server.fresh_database("suite"))


@pytest.fixture()
def landed(pg_server):
    """test_revalidation's two orgs, on a server (the same rows, the same two rows broken in raw)."""
    wh = Warehouse(pg_server.fresh_database("reval"))
    _revalidation._land(wh, "crm-eu", _revalidation._contacts(5))
    _revalidation._land(wh, "crm-us", _revalidation._contacts(3))
    with wh.connect() as con:
        con.execute("""update raw."salesforce__contacts" set "MailingCountry" = 'UK'
                       where _integration = 'crm-eu' and "Id" = '003000000000000001'""")
        con.execute("""update raw."salesforce__contacts" set "Email" = 'not an address', "LastName" = null
                       where _integration = 'crm-eu' and "Id" = '003000000000000003'""")
    return wh


def _tests(module, names: list[str]) -> dict:
    return {f"{name}": getattr(module, name) for name in names}


globals().update(_tests(_incidents, [n for n in dir(_incidents) if n.startswith("test_") and
                                     "wh" in getattr(_incidents, n).__code__.co_varnames[:getattr(_incidents, n).__code__.co_argcount]]))
globals().update(_tests(_layer, [n for n in dir(_layer) if n.startswith("test_") and
                                 "wh" in getattr(_layer, n).__code__.co_varnames[:getattr(_layer, n).__code__.co_argcount]]))
globals().update(_tests(_health, [n for n in dir(_health) if n.startswith("test_") and
                                  "wh" in getattr(_health, n).__code__.co_varnames[:getattr(_health, n).__code__.co_argcount]]))
globals().update(_tests(_revalidation, [n for n in dir(_revalidation) if n.startswith("test_")]))
