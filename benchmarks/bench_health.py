"""Time from an injected outage to its Slack alert, with the health monitor running on a short schedule.

    python benchmarks/bench_health.py --interval 2 [--fault 5xx|refused] [--trials 3] [--probe-timeout 1]

Starts the Salesforce and HubSpot emulators and the Slack emulator on 127.0.0.1, writes a workspace whose policy
sets the monitor's interval, and runs the ``integration-health`` flow every interval (real Prefect flow runs). After
two healthy runs it injects an outage into Salesforce at a random moment of the interval (a 5xx storm, or the API
stopped so connections are refused), waits for the "DOWN" message to reach Slack, lifts the fault, waits for the
recovery message, and repeats. The bound the issue sets is one interval plus the probe timeout. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path

import yaml

from steward.flows.runtime import apply_defaults

apply_defaults()

from steward.contracts.policy import DEFAULT_POLICY  # noqa: E402
from steward.contracts.yaml_input import parse_yaml_mapping  # noqa: E402
from steward.integrations.emulator._platform import Fault  # noqa: E402
from steward.integrations.emulator.hubspot import HubspotEmulator  # noqa: E402
from steward.integrations.emulator.salesforce import SalesforceEmulator  # noqa: E402
from steward.integrations.emulator.slack import SlackEmulator  # noqa: E402
from steward.integrations.emulator.stack import DEMO_ENV, EmulatorStack  # noqa: E402

TOKEN = "xoxb-bench-0000000000-health"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workspace(root: Path, urls: dict[str, str], args: argparse.Namespace) -> Path:
    policy = parse_yaml_mapping(resources.files("steward.contracts").joinpath(DEFAULT_POLICY).read_bytes(),
                                "default policy", "policy file", "'checks'")
    policy["health"].update({"interval_seconds": args.interval, "probe_timeout_seconds": args.probe_timeout,
                             "confirm_interval_seconds": args.confirm})
    (root / "policy.yaml").write_text(yaml.safe_dump(policy))
    config = {"warehouse": "bench.duckdb", "policy": "policy.yaml",
              "integrations": EmulatorStack.integrations_for(urls)}
    (root / "steward.yaml").write_text(yaml.safe_dump(config))
    return root / "steward.yaml"


def _wait_for(slack: SlackEmulator, count: int, word: str, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = slack.messages
        if len(msgs) >= count and word in (msgs[count - 1].text or ""):
            return time.monotonic()
        time.sleep(0.005)
    return None


def _inject(sf: SalesforceEmulator, slack: SlackEmulator, args: argparse.Namespace, runs: list[float],
            stop: threading.Event, out: dict) -> None:
    try:
        while len(runs) < 2 and not stop.is_set():  # two healthy runs first
            time.sleep(0.01)
        for trial in range(args.trials):
            time.sleep(random.uniform(0, args.interval))  # a random phase of the schedule
            fault_at = time.monotonic()
            if args.fault == "refused":
                sf.stop()
            else:
                sf.faults.add(Fault("status", count=10**6, status=503))
            alerted = _wait_for(slack, 2 * trial + 1, "DOWN", 10 * args.interval + 30)
            out["fault_to_alert_s"].append(None if alerted is None else round(alerted - fault_at, 3))
            healed_at = time.monotonic()
            sf.start() if args.fault == "refused" else sf.faults.clear()
            recovered = _wait_for(slack, 2 * trial + 2, "RECOVERED", 10 * args.interval + 30)
            out["fault_end_to_recovery_s"].append(None if recovered is None else round(recovered - healed_at, 3))
    finally:
        stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=2.0, help="monitor interval, seconds")
    parser.add_argument("--probe-timeout", type=float, default=1.0, help="probe timeout per request, seconds")
    parser.add_argument("--confirm", type=float, default=0.1, help="re-probe delay for a bad verdict, seconds")
    parser.add_argument("--fault", choices=("5xx", "refused"), default="5xx")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    random.seed(args.seed)
    for key, value in DEMO_ENV.items():
        os.environ.setdefault(key, value)
    from prefect.testing.utilities import prefect_test_harness

    from steward.flows.health import run_monitor
    from steward.flows.runtime import flow_settings

    out: dict = {"fault_to_alert_s": [], "fault_end_to_recovery_s": []}
    with tempfile.TemporaryDirectory() as tmp, \
            SalesforceEmulator(port=_free_port(), client_id=DEMO_ENV["STEWARD_DEMO_SF_CLIENT_ID"],
                               client_secret=DEMO_ENV["STEWARD_DEMO_SF_CLIENT_SECRET"]) as sf, \
            HubspotEmulator(tokens=[DEMO_ENV["STEWARD_DEMO_HUBSPOT_TOKEN"]]) as hs, \
            SlackEmulator(token=TOKEN, channels={"#marketing-ops-alerts": "C0ALERTS"}) as slack, \
            prefect_test_harness(server_startup_timeout=60), flow_settings():
        os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_API_URL"] = TOKEN, slack.base_url
        config = _workspace(Path(tmp), {"salesforce": sf.base_url, "hubspot": hs.base_url}, args)
        stop, runs = threading.Event(), []
        injector = threading.Thread(target=_inject, args=(sf, slack, args, runs, stop, out), daemon=True)
        injector.start()
        run_monitor(str(config), args.interval, stop, on_result=lambda r: runs.append(r.seconds))
        injector.join(timeout=5)
    latencies = [v for v in out["fault_to_alert_s"] if v is not None]
    bound = args.interval + args.probe_timeout
    print(json.dumps({
        "bench": "health", "interval_s": args.interval, "probe_timeout_s": args.probe_timeout,
        "confirm_interval_s": args.confirm, "fault": args.fault, "trials": args.trials, **out,
        "max_fault_to_alert_s": max(latencies) if latencies else None,
        "median_fault_to_alert_s": round(statistics.median(latencies), 3) if latencies else None,
        "bound_s": bound, "within_bound": bool(latencies) and len(latencies) == args.trials and max(latencies) <= bound,
        "monitor_runs": len(runs), "median_run_s": round(statistics.median(runs), 3) if runs else None,
        "slack_messages": len(slack.messages)}))
    sys.exit(0)


if __name__ == "__main__":
    main()
