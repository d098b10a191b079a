"""Every kind of Slack message Steward sends, rendered and compared with a stored golden copy, byte for byte.

The golden file (``golden/notify_payloads.json``) was written by the code that built Block Kit in three places, before
the messages were moved onto one neutral model and one renderer; this test is what proves the move changed nothing a
channel sees. The cases carry the awkward inputs: mrkdwn that must be escaped (``<!channel>``, ``&``), email-shaped
text that must be redacted, mentions, links and paths, texts long enough to be clipped, and more findings or
incidents than one message holds. Each payload is also checked by the Slack emulator's Block Kit validator.

Regenerate (only when a message is meant to change): ``python tests/integrations/test_notify_golden.py``.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from steward.contracts.finding import Finding, Severity
from steward.flows.launch_checks import Reason, Verdict, verdict_payload
from steward.integrations.emulator._blockkit import block_errors
from steward.integrations.notify.health_messages import transition_message
from steward.integrations.notify.message import (build_digest, build_message, build_parent, build_reply,
                                                 build_resolved_reply)

GOLDEN = Path(__file__).parent / "golden" / "notify_payloads.json"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
NASTY = "Spring <!channel> & <@U123> promo for jane.doe@example.com > q1"
LONG = "Twelve people who unsubscribed still received emails & kept <receiving> them. " * 60  # ~4,800 characters


def _finding(check_id: str = "consent.send_after_opt_out", severity: Severity = Severity.critical, **kw) -> Finding:
    family = {"consent": "privacy_consent", "bias": "bias", "reconciliation": "reconciliation"}[check_id.split(".")[0]]
    base = dict(run_id="r-1", check_id=check_id, family=family, severity=severity, subject_type="integration",
                subject="hubspot", metric="unsubscribed_sends", observed=12.0, threshold=0.0,
                evidence={"n": 40, "rate": 0.0312, "ok": True, "person_ids": [f"h:{i:010x}" for i in range(7)],
                          "emails": ["jane@example.com"], "note": "free text is dropped"},
                explanation="Twelve people who unsubscribed still received emails.")
    return Finding(**{**base, **kw})


def _findings() -> list[Finding]:
    return [_finding(),
            _finding("bias.selection_rate_disparity", Severity.warn, subject=NASTY, metric="ratio <b>",
                     observed=0.61234, threshold=0.8, explanation=LONG),
            _finding("reconciliation.ad_spend_vs_crm_cost", Severity.info, subject="google_ads", observed=None,
                     threshold=1234567.891, evidence={}),
            _finding("consent.send_after_opt_out", Severity.warn, subject="x" * 400, observed=float("inf"))]


def _incident(i: int, severity: Severity) -> SimpleNamespace:
    return SimpleNamespace(check_id=f"consent.check_{i:03d}", subject=f"campaign-{i} <&>", severity=severity,
                           channel="#privacy & ops", observed=float(i) * 1.5, opened_at=T0 - timedelta(hours=i))


def _reason(kind: str, i: int, explanation: str, condition: str = "") -> Reason:
    return Reason(kind=kind, check_id=f"launch.check_{i}", family="privacy_consent", subject=f"segment <{i}> & co",
                  metric="people", observed=float(i), threshold=0.0, explanation=explanation, condition=condition,
                  evidence={"n": i}, sample_query="select 1")


def _spec(name: str) -> SimpleNamespace:
    return SimpleNamespace(id="spring-promo", name=name, starts_on=date(2026, 4, 1), ends_on=date(2026, 4, 30),
                           channels=["email", "ads"])


def cases() -> dict[str, Any]:
    """Every message kind, with the inputs that exercise escaping, redaction, clipping and overflow."""
    f = _findings()
    many = [_finding(subject=f"campaign-{i:03d}", explanation=LONG[:400]) for i in range(80)]
    out: dict[str, Any] = {
        "summary": build_message(f, "run-<1>", report="/tmp/r & 1.html", flow_run_url="https://prefect.example/r/1"),
        "summary_overflow": build_message(many, "run-2", report="https://reports.example/r-2.html"),
        "summary_empty": build_message([], "run-3"),
        "parent_open": build_parent(f[0], "run-1", opened_at=T0, mention="<!subteam^S0PRIVACY>",
                                    report="/tmp/report.html", flow_run_url="https://prefect.example/r/1"),
        "parent_bad_mention": build_parent(f[1], "run-1", opened_at=T0, mention="<!channel>"),
        "parent_still_open": build_parent(f[1], "run-2", opened_at=T0, now=T0 + timedelta(days=3, hours=4)),
        "parent_resolved": build_parent(f[0], "run-3", opened_at=T0, resolved_at=T0 + timedelta(hours=5, minutes=12),
                                        mention="<!subteam^S0PRIVACY>", report="https://reports.example/r-3.html"),
        "parent_long_subject": build_parent(f[3], "run-1", opened_at=T0),
        "reply_worse": build_reply(f[0], previous_severity=Severity.warn, previous_observed=3.0, opened_at=T0,
                                   now=T0 + timedelta(hours=2), mention="<!subteam^S0PRIVACY>"),
        "reply_worse_bad_mention": build_reply(f[0], previous_severity=Severity.info, previous_observed=None,
                                               opened_at=T0, now=T0 + timedelta(hours=2), mention="@here"),
        "reply_still_open": build_reply(f[1], previous_severity=Severity.warn, previous_observed=0.7, opened_at=T0,
                                        now=T0 + timedelta(minutes=8)),
        "reply_resolved": build_resolved_reply(f[1], opened_at=T0, resolved_at=T0 + timedelta(days=1), run_id="r<9>"),
        "digest": build_digest([_incident(i, s) for i, s in enumerate(Severity)], T0 + timedelta(days=1)),
        "digest_overflow": build_digest([_incident(i, Severity.warn) for i in range(400)], T0 + timedelta(days=30)),
        "digest_empty": build_digest([], T0),
    }
    figures = {"latency_ms": 1234.5, "status": 503, "headroom_pct": None, "hours_since_sync": 30.25,
               "5xx_streak": 3, "drift_columns": None}
    for kind, previous, since in (("down", "healthy", None), ("degraded", None, None),
                                  ("unknown", "degraded", T0), ("recovered", "down", T0 - timedelta(hours=26)),
                                  ("recovered", None, None)):
        out[f"health_{kind}_{previous}"] = transition_message(
            kind, "hubspot <prod> & co", "hubspot", previous=previous, rule="probe_5xx_streak",
            reason=f"HTTP 503 from api for ops@example.com <!here> {'x' * 400}", since=since, now=T0,
            figures=figures if kind != "unknown" else {}, silenced_until=None)
    go = Verdict(verdict="GO", blocking=[], conditions=[], checks_evaluated=["a", "b", "c"])
    conditional = Verdict(verdict="GO WITH CONDITIONS", blocking=[],
                          conditions=[_reason("condition", 1, "Frequency over plan.", "Cap at 2 <per> week & check."),
                                      _reason("condition", 2, LONG, LONG)], checks_evaluated=["a", "b"])
    no_go = Verdict(verdict="NO-GO", blocking=[_reason("blocking", i, f"Blocked {i} for x@y.com.") for i in range(45)],
                    conditions=[_reason("condition", 99, "Watch spend.", "Review daily.")], checks_evaluated=["a"])
    out["launch_go"] = verdict_payload(_spec("Spring promo"), go, "launch-spring-1", None)
    out["launch_conditional"] = verdict_payload(_spec(NASTY), conditional, "launch-spring-2", "/tmp/a & b.md")
    out["launch_no_go"] = verdict_payload(_spec("S" * 120), no_go, "launch-spring-3", "/tmp/export.md")
    return out


def _normalised(payload: Any) -> Any:
    return json.loads(json.dumps(payload, ensure_ascii=False))


@pytest.mark.parametrize("name", sorted(json.loads(GOLDEN.read_text(encoding="utf-8"))))
def test_message_is_byte_for_byte_the_golden_copy(name):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    payload = _normalised(cases()[name])
    assert json.dumps(payload, ensure_ascii=False) == json.dumps(golden, ensure_ascii=False)
    assert block_errors(payload["blocks"]) == [] and len(payload["text"]) <= 3000


def test_every_case_has_a_golden_copy():
    assert set(cases()) == set(json.loads(GOLDEN.read_text(encoding="utf-8")))


if __name__ == "__main__":  # regenerate the golden copy
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(_normalised(cases()), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
