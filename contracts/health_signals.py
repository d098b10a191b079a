"""What the health monitor measured about one integration, as plain data the health rules judge.

``integrations/health/signals.py`` measures these (one live probe, and the ledgers' record of the syncs);
``health_rules.verdict`` reads them into a verdict. Nothing here reads or writes anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

__all__ = ["Signals", "ProbeSignals", "LedgerSignals"]


@dataclass
class ProbeSignals:
    """One probe: the adapter's own verdict and detail, and what the HTTP layer saw while it ran."""

    probe_state: str | None = None  # healthy | degraded | down, as the adapter judged; None: no probe ran
    probe_detail: str = ""
    failure: str | None = None  # unreachable | timeout | server_error | rate_limited | auth | config | other
    status_code: int | None = None
    auth_ok: bool | None = None
    latency_ms: float | None = None
    headroom: float | None = None  # share of the API's rate limit or quota left, 0..1


@dataclass
class LedgerSignals:
    """How the integration's syncs have gone, from Steward's own ledgers."""

    last_sync_at: datetime | None = None
    hours_since_sync: float | None = None
    sync_error_rate: float | None = None
    sync_runs: int = 0
    volume_rows: int | None = None  # rows read yesterday (UTC)
    volume_baseline: float | None = None  # median of the same weekday in earlier weeks
    volume_ratio: float | None = None
    drift_columns: int | None = None  # drifted columns summed over each entity's latest batch
    drifted_entities: list[str] = field(default_factory=list)
    schema_changes: int | None = None  # columns added or removed between each entity's last two snapshots
    reconciliation_rate: float | None = None  # share of cross-system comparisons it agrees on, last governance run
    reconciliation_baseline: float | None = None  # median of that share over earlier governance runs
    reconciliation_run_id: str | None = None  # the governance run whose marts the rate was read from


@dataclass
class Signals:
    integration: str
    platform: str
    checked_at: datetime
    probe: ProbeSignals
    ledger: LedgerSignals
    server_error_streak: int = 0

    def as_json(self) -> str:
        return json.dumps({"probe": asdict(self.probe), "ledger": asdict(self.ledger),
                           "server_error_streak": self.server_error_streak}, default=str)
