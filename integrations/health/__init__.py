"""Integration health: signals per probe, the history ledger, the gate the governance run consults, and the report
section. The rules and the state machine with hysteresis are judgement and live in ``contracts`` (``health_rules``,
``health_state``, ``health_gate``). ``docs/health.md`` explains the whole monitor."""

from __future__ import annotations

from .gate import check_inputs, health_gate
from .monitor import check_integration
from .report import health_section
from .signals import ledger_signals, probe_signals

__all__ = ["check_inputs", "health_gate", "check_integration", "health_section", "ledger_signals",
           "probe_signals"]
