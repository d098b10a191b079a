"""Integration health: signals per probe, rules, a state machine with hysteresis, the history ledger, the gate the
governance run consults, and the report section. ``docs/health.md`` explains the whole monitor."""

from __future__ import annotations

from .gate import Gate, check_inputs, health_gate
from .monitor import check_integration
from .report import health_section
from .rules import Verdict, in_maintenance, verdict
from .signals import LedgerSignals, ProbeSignals, Signals, ledger_signals, probe_signals
from .state import Track, advance, announce

__all__ = ["Gate", "check_inputs", "health_gate", "check_integration", "health_section", "Verdict", "in_maintenance",
           "verdict", "LedgerSignals", "ProbeSignals", "Signals", "ledger_signals", "probe_signals", "Track", "advance",
           "announce"]
