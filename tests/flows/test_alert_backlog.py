"""Messages an earlier run left queued are delivered by the next run, which counts them and says so in its audit row.

Run A queues its messages while the Slack emulator answers 500 to everything; run B finds Slack back. Through the
real slack-sdk client on 127.0.0.1, as in ``test_alerting`` (whose fixtures these are).
"""

from __future__ import annotations

from test_alerting import BIAS, CONSENT, SPEND, cfg, dispatch, finding, slack  # noqa: F401 - fixtures

from steward.contracts.finding import Severity
from steward.integrations.warehouse import outbox
from steward.integrations.warehouse import Warehouse


def _audit(cfg) -> list[tuple[str, str, str]]:
    rows = Warehouse(cfg.warehouse).query_df("select run_id, reason, outcome from ledger.audit_log "
                                             "where action = 'alert' order by seq")
    return [tuple(r) for r in rows.itertuples(index=False)]


def _queued(cfg) -> int:
    return len(outbox.alerts(Warehouse(cfg.warehouse), status=outbox.QUEUED))


def test_a_run_with_nothing_new_still_reports_the_queued_messages_it_delivered(slack, cfg):
    slack.fail_next(1000, status=500)
    first = dispatch(cfg, "r-1", finding(), finding(SPEND, Severity.warn), finding(BIAS))
    assert (first["outcome"], first["opened"], first["delivered"]) == ("queued", 3, 0)
    assert _queued(cfg) == 3 and slack.messages == []

    slack.clear_faults()
    second = dispatch(cfg, "r-2", finding(), finding(SPEND, Severity.warn), finding(BIAS))  # all inside quiet time
    assert (second["suppressed"], second["messages"], second["outcome"]) == (3, 0, "none")
    assert (second["delivered"], second["delivered_earlier"]) == (3, 3)
    assert second["summary"].endswith("nothing new to send; delivered 3 (3 queued by earlier runs)")
    assert len(slack.messages) == 3 and _queued(cfg) == 0
    run_id, reason, outcome = _audit(cfg)[-1]
    assert run_id == "r-2" and outcome == "none; delivered 3 (3 queued by earlier runs)"
    assert "delivered 3 (3 queued by earlier runs)" in reason


def test_new_and_earlier_messages_are_counted_apart(slack, cfg):
    slack.fail_next(1000, status=500)
    assert dispatch(cfg, "r-1", finding(), finding(SPEND, Severity.warn))["outcome"] == "queued"
    slack.clear_faults()
    second = dispatch(cfg, "r-2", finding(), finding(SPEND, Severity.warn), finding(BIAS))  # one new incident
    assert (second["opened"], second["messages"], second["outcome"]) == (1, 1, "sent")
    assert (second["delivered"], second["delivered_earlier"]) == (3, 2)
    assert "1 messages sent to Slack #ml-governance; delivered 3 (2 queued by earlier runs)" in second["summary"]
    assert _audit(cfg)[-1][2] == "sent; delivered 3 (2 queued by earlier runs)"
    assert len(slack.messages) == 3


def test_a_run_without_decisions_delivers_an_earlier_runs_backlog_and_audits_it(slack, cfg):
    wh = Warehouse(cfg.warehouse)
    slack.fail_next(1000, status=500)
    outbox.enqueue(wh, "digest-1", outbox.OutboxMessage(outbox.POST, "#ops-digest", {"text": "2 open incidents"}))
    assert dispatch(cfg, "r-0")["outcome"] == "none" and _queued(cfg) == 1  # Slack still down: nothing audited
    assert _audit(cfg) == []

    slack.clear_faults()
    result = dispatch(cfg, "r-1")  # no findings, no incidents: before, the backlog waited for `alerts retry`
    assert (result["outcome"], result["delivered"], result["delivered_earlier"]) == ("none", 1, 1)
    assert [m.text for m in slack.messages] == ["2 open incidents"] and _queued(cfg) == 0
    assert _audit(cfg)[-1][2] == "none; delivered 1 (1 queued by earlier runs)"
    assert dispatch(cfg, "r-2")["summary"] == "nothing at or above warn"  # quiet again: no audit row
    assert len(_audit(cfg)) == 1


def test_without_a_backlog_the_audit_row_is_as_before(slack, cfg):
    result = dispatch(cfg, "r-1", finding())
    assert (result["outcome"], result["delivered"], result["delivered_earlier"]) == ("sent", 1, 0)
    assert _audit(cfg)[-1][2] == "sent" and "queued by earlier runs" not in result["summary"]
