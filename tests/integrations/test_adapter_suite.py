"""The shared adapter suite: the behaviours every API adapter has in common, for every row of ``PLATFORMS``.

Two layers. ``in_process`` hands the adapter an ``httpx.Client`` on the emulator's in-process transport (an
``httpx.MockTransport``: no socket, fast); ``socket`` lets the adapter build its own client against the emulator
served on 127.0.0.1 (the integration layer: the production code path, end to end). Tests that depend on the wire
(retries, credentials, control, probes) run in both; pagination and filtering run in-process.
"""

from __future__ import annotations

import re

import httpx
import pandas as pd
import pytest

from adapter_suite import PLATFORMS, POLICY, Replay, Unreachable, http_of, judged, make_adapter, set_credentials
from steward.contracts.policy import HealthRules
from steward.integrations.demo.generator import generate_workspace
from steward.integrations.emulator._platform import Fault
from steward.contracts.errors import ConfigError, SourceError
from steward.contracts.errors import PaginationLoop

LAYERS = ["in_process", "socket"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return generate_workspace(tmp_path_factory.mktemp("suite-ws"), scale=0.1).root


@pytest.fixture(params=PLATFORMS, ids=[p.name for p in PLATFORMS])
def platform(request):
    return request.param


@pytest.fixture
def layer():
    return "in_process"


@pytest.fixture
def emu(platform, workspace, layer):
    emulator = platform.emulator(workspace)
    if layer == "socket":
        with emulator:
            yield emulator
    else:
        emulator.transport()  # gives it an in-process base_url before any adapter reads it
        yield emulator


@pytest.fixture
def secrets(platform, emu, monkeypatch):
    return set_credentials(platform, emu, monkeypatch)


@pytest.fixture
def build(platform, emu, layer, secrets):
    """``build(transport=None)``: the adapter over the layer's client, or over ``transport(inner)`` in-process."""
    clients: list[httpx.Client] = []

    def make(wrap=None, batch_rows: int = 10_000):
        if layer == "socket" and wrap is None:
            return make_adapter(platform, emu, None, batch_rows)
        inner = emu.transport() if layer == "in_process" else httpx.HTTPTransport()
        client = httpx.Client(transport=wrap(inner) if wrap else inner, timeout=POLICY.timeout)
        clients.append(client)
        return make_adapter(platform, emu, client, batch_rows)

    yield make
    for client in clients:
        client.close()


def _pages(platform, emu) -> int:
    return sum(1 for r in emu.requests if re.search(platform.pages, r.path) and r.status == 200)


def _rows(adapter, platform, since=None) -> pd.DataFrame:
    frames = [b.frame for b in adapter.pull(platform.entity, since)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _key(adapter, platform) -> list[str]:
    stream = next(s for s in adapter.streams() if s.entity == platform.entity)
    return stream.primary_key.split(",")


def _one_line_naming(message: str, platform, secrets: dict[str, str]) -> None:
    assert message.startswith(f"integration '{platform.integration}'"), message
    assert "\n" not in message
    assert not [v for v in secrets.values() if v in message], "a secret leaked into the error"


# -- pagination -----------------------------------------------------------------------------------------------------
def test_pages_through_every_page(platform, emu, build):
    adapter = build(batch_rows=150)
    rows = _rows(adapter, platform)
    assert _pages(platform, emu) >= 2  # the entity really spans pages in the suite's workspace
    assert len(rows) == emu.query(platform.count)[0]["n"]
    assert not rows.duplicated(_key(adapter, platform)).any()


def test_a_repeated_page_marker_is_one_loop_error(platform, emu, build):
    replay: list[Replay] = []
    adapter = build(lambda inner: replay.append(Replay(inner, platform.pages)) or replay[0])
    with pytest.raises(PaginationLoop) as err:
        _rows(adapter, platform)
    message = str(err.value)
    assert re.fullmatch(rf"integration '{platform.integration}': {platform.name} named the same [\w -]+ twice "
                        rf"while paging {platform.entity} \(.+\); stopping instead of looping\. .+", message), message
    assert replay[0].replayed == 1  # the second answer named the first's marker again: stopped at once


def test_since_pulls_only_from_the_watermark(platform, emu, build):
    adapter = build(batch_rows=150)
    full = list(adapter.pull(platform.entity))
    mark = full[-1].watermark
    assert mark is not None
    again = _rows(build(), platform, since=mark)
    assert 0 < len(again) < sum(len(b.frame) for b in full)  # inclusive of the watermark, nothing much older


# -- retries and failures -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer", LAYERS)
def test_retries_429_and_5xx_then_lands_every_row(platform, emu, build):
    emu.faults.add(Fault("status", count=2, status=429, path=platform.pages, skip=1))
    emu.faults.add(Fault("status", count=2, status=503, path=platform.pages, skip=1))
    adapter = build(batch_rows=150)
    rows = _rows(adapter, platform)
    assert len(rows) == emu.query(platform.count)[0]["n"]
    assert not rows.duplicated(_key(adapter, platform)).any()
    assert http_of(adapter).stats.retries >= 4
    assert {r.fault for r in emu.requests if r.fault} == {"429", "503"}


# a fault mid-pull: the first page goes through, the next request meets it
FAULTS = {"truncated_page": "truncate", "malformed_body": "malformed", "token_expiry": "expire_tokens"}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_mid_pull_changes_nothing_that_is_pulled(platform, emu, build, fault):
    planned = Fault(FAULTS[fault], count=1, path=platform.pages, skip=1)  # type: ignore[arg-type]
    emu.faults.add(planned)
    adapter = build(batch_rows=150)
    rows = _rows(adapter, platform)
    assert planned.count == 0, "the fault never fired"
    assert len(rows) == emu.query(platform.count)[0]["n"]
    assert not rows.duplicated(_key(adapter, platform)).any()
    stats = http_of(adapter).stats
    assert (stats.token_refreshes, stats.retries >= 1) == ((1, True) if fault == "token_expiry" else (0, True))


@pytest.mark.parametrize("layer", LAYERS)
def test_gives_up_with_one_line_naming_the_integration(platform, emu, build, secrets):
    emu.faults.add(Fault("status", count=100, status=503, path=platform.pages))
    with pytest.raises(SourceError) as err:
        _rows(build(), platform)
    _one_line_naming(str(err.value), platform, secrets)
    assert f"failed after {POLICY.attempts} attempts" in str(err.value)


@pytest.mark.parametrize("layer", LAYERS)
def test_refused_credentials_are_one_line_without_the_secret(platform, emu, build, secrets, monkeypatch):
    wrong = {key: f"wrong-{key}-value" for key in secrets}
    for key, variable in platform.credentials(emu).items():
        monkeypatch.setenv(variable, wrong[key])
    with pytest.raises(SourceError) as err:
        _rows(build(), platform)
    _one_line_naming(str(err.value), platform, {**secrets, **wrong})


@pytest.mark.parametrize("layer", LAYERS)
def test_a_dead_token_is_refreshed_once_then_fails_in_one_line(platform, emu, build, secrets):
    emu.faults.add(Fault("expire_tokens", count=100, path=platform.pages))  # every token dies at each page request
    adapter = build()
    with pytest.raises(SourceError, match="after one token refresh") as err:
        _rows(adapter, platform)
    _one_line_naming(str(err.value), platform, secrets)
    assert http_of(adapter).stats.token_refreshes == 1


def test_a_missing_credential_variable_is_a_config_error_naming_it(platform, emu, build, monkeypatch):
    variable = sorted(platform.credentials(emu).values())[-1]
    monkeypatch.delenv(variable)
    with pytest.raises(ConfigError, match=f"integration '{platform.integration}'.*{variable}"):
        _rows(build(), platform)  # some adapters refuse at construction, the others at the first call


# -- control --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer", LAYERS)
def test_pause_resume_and_campaign_state_round_trip(platform, emu, build):
    adapter = build()
    steps = [("pause", True, "paused"), ("pause", False, "paused"), ("resume", True, "active"),
             ("resume", False, "active")]
    for action, changed, state in steps:
        result = getattr(adapter, action)(platform.campaign, "suite")
        assert (result.action, result.changed, adapter.campaign_state(platform.campaign)) == (action, changed, state)
    assert [c.action for c in emu.controls if c.changed] == ["pause", "resume"]


def test_pausing_an_unknown_campaign_is_one_clear_line(platform, emu, build, secrets):
    unknown = "9" * len(platform.campaign)
    with pytest.raises(SourceError) as err:
        build().pause(unknown, "suite")
    _one_line_naming(str(err.value), platform, secrets)
    assert not [c for c in emu.controls if c.changed]


# -- health ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer", LAYERS)
def test_probe_reports_headroom_and_the_policy_decides(platform, emu, build):
    adapter = build()
    health = adapter.probe()
    assert health.state == "healthy" and health.integration == platform.integration
    probe, verdicts = judged(adapter, default=HealthRules().min_headroom, strict=1.0)
    assert verdicts["default"].state == "healthy"
    if platform.name == "google_ads":  # Google sends no rate-limit headers: nothing to judge, never quota.low
        assert probe.headroom is None and verdicts["strict"].rule != "quota.low"
    else:  # the same probe, a policy that wants more headroom: degraded by quota.low, not by the adapter
        assert 0 < probe.headroom < 1 and probe.probe_state == "healthy"
        assert (verdicts["strict"].state, verdicts["strict"].rule) == ("degraded", "quota.low")


def test_probe_reports_down_without_raising_when_unreachable(platform, emu, build):
    health = build(lambda inner: Unreachable()).probe()
    assert health.state == "down" and health.detail.startswith(f"integration '{platform.integration}'")
    assert "connection failed" in health.detail


@pytest.mark.parametrize("layer", ["socket"])
def test_probe_reports_down_when_the_emulator_stops(platform, emu, build):
    adapter = build()
    assert adapter.probe().state == "healthy"
    url = emu.base_url
    emu.stop()
    down = make_adapter(platform, emu, None, base_url=url).probe()  # a fresh client: no kept-alive socket
    assert down.state == "down" and down.detail.startswith(f"integration '{platform.integration}'")
