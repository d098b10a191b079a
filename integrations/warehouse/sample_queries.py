"""The query that shows a finding's row again, written into the finding for whoever follows up (report, Slack).

The judge (``contracts.governance``) knows which mart and which key values a finding came from; turning that into
SQL is this room's job. Key values are quoted as SQL string literals (a quote doubled), so the query is safe to paste
whatever a subject's value holds.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["governance_sample_query", "launch_sample_query"]


def governance_sample_query(mart: str, key: Mapping[str, Any]) -> str:
    """The row of ``governance.<mart>`` a governance finding came from."""
    return _select("governance", mart, key)


def launch_sample_query(mart: str, key: Mapping[str, Any]) -> str:
    """The row of ``launch.<mart>`` a pre-launch finding came from."""
    return _select("launch", mart, key)


def _select(schema: str, mart: str, key: Mapping[str, Any]) -> str:
    where = " and ".join(f"{k} = '{str(v).replace(chr(39), chr(39) * 2)}'" for k, v in key.items())
    return f"select * from {schema}.{mart} where {where}"
