"""The embedded default: a demo workspace on disk and a steward.yaml that points at it.

``steward demo`` regenerates the exports and starts from an empty warehouse every time, so a clean run after an
injected one is not haunted by the earlier data. Nothing else in the working folder is removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..integrations.demo.generator import Workspace, generate_workspace
from ..integrations.demo.injections import Injections
from ..contracts.errors import ConfigError
from ..integrations.sources.streams import FILES_ONLY, streams_for

from .config import IntegrationConfig, StewardConfig, load_config, write_config

__all__ = ["prepare_demo", "write_emulated_config", "read_from_files", "DEMO_PLATFORMS", "API_EVENTS_MAX"]

DEMO_PLATFORMS = ("salesforce", "hubspot", "google_ads", "cdp", "decisions")
# The demo anchors its audit log in its own folder (a real team keeps the file off the warehouse's machine); it is
# removed with the warehouse, since each demo starts from an empty one.
DEMO_ANCHOR = Path("audit-anchors.jsonl")


def prepare_demo(workdir: Path, scale: float = 1.0, seed: int = 7, clean: bool = False,
                 progress: Callable[[str], None] | None = None, warehouse: str | None = None,
                 warehouse_password_env: str | None = None) -> tuple[Path, Workspace]:
    """Write the workspace and its config; returns the config path and what was generated. ``progress`` hears the
    generator's steps. ``warehouse``: a PostgreSQL URL to run into instead of ``steward.duckdb`` (an empty
    database: the demo starts from an empty warehouse, and never empties one that holds runs)."""
    target = _demo_target(warehouse, warehouse_password_env)
    workdir = workdir.expanduser().resolve()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{workdir}: cannot create the demo folder ({exc.strerror})") from exc
    ws = generate_workspace(workdir, seed=seed, scale=scale, injections=Injections.none() if clean else Injections(),
                            progress=progress)
    for stale in (workdir / "steward.duckdb", workdir / "steward.duckdb.wal", workdir / DEMO_ANCHOR):
        stale.unlink(missing_ok=True)
    cfg = StewardConfig(
        warehouse=target or Path("steward.duckdb"), work_dir=Path("work"), report_dir=Path("reports"),
        audit_anchor=DEMO_ANCHOR, integrations=[entry for p in DEMO_PLATFORMS for entry in _file_integrations(p)],
        warehouse_password_env=warehouse_password_env)
    return write_config(cfg, workdir / "steward.yaml"), ws


def _demo_target(url: str | None, password_env: str | None):
    """The PostgreSQL warehouse the demo runs into (None: its DuckDB file), refused when it already holds runs."""
    if url is None:
        return None
    from ..integrations.warehouse import ledger_rows
    from ..integrations.warehouse.target import parse_target

    target = parse_target(url, password_env)
    if isinstance(target, Path):
        raise ConfigError(f"--warehouse: '{url}' is not a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE); "
                          "the demo's DuckDB file is always <workdir>/steward.duckdb")
    if ledger_rows(target):
        raise ConfigError(f"--warehouse: {target.display} already holds Steward runs; the demo starts from an "
                          "empty warehouse, so give it an empty database")
    return target


def _file_integrations(platform: str) -> list[IntegrationConfig]:
    """The platform's export folder as one integration; entities no API can give back get their own
    (``<platform>-files``), so the same integration names hold the same rows whether the rest comes from the
    files or, in ``steward.emulated.yaml``, from the API."""
    path = Path("exports") / platform
    only = FILES_ONLY.get(platform)
    if not only:
        return [IntegrationConfig(name=platform, platform=platform, path=path)]
    rest = [s.entity for s in streams_for(platform) if s.entity not in only]
    return [IntegrationConfig(name=platform, platform=platform, path=path, entities=rest),
            IntegrationConfig(name=f"{platform}-files", platform=platform, path=path, entities=only)]


# HubSpot's Email Events API answers 1,000 events a request: past this many, a demo pulling them through it spends
# most of its time in HTTP paging (15M events at scale 100 are 15,000 requests), so it reads them from the export
# file instead, as a team backfilling years of history does. Everything else still comes through the APIs.
API_EVENTS_MAX = 2_000_000


def read_from_files(ws: Workspace) -> dict[str, list[str]]:
    """Entities (platform -> entities) a demo over the APIs reads from the export files because of their size."""
    return {"hubspot": ["email_events"]} if ws.counts.get("hubspot.email_events", 0) > API_EVENTS_MAX else {}


def write_emulated_config(config: Path, api_integrations: list[dict[str, Any]],
                          from_files: dict[str, list[str]] | None = None) -> Path:
    """``steward.emulated.yaml`` beside ``config``: the same workspace, with the platforms that have an emulator
    pulled through their APIs instead of their export files. Its URLs live only as long as ``steward demo`` runs.
    ``from_files`` (platform -> entities) keeps those entities on the export files, in a ``<platform>-files``
    integration, as ``FILES_ONLY`` entities are."""
    cfg = load_config(config)
    by_name = {i["name"]: IntegrationConfig(**i) for i in api_integrations}
    for platform, entities in (from_files or {}).items():
        api = by_name.get(platform)
        if api is None:
            continue
        by_name[platform] = api.model_copy(update={"entities": [
            s.entity for s in streams_for(platform) if s.entity not in entities
            and s.entity not in FILES_ONLY.get(platform, ())]})
        name = f"{platform}-files"
        files = next((i for i in cfg.integrations if i.name == name), None)
        kept = list(files.entities or []) if files else []
        by_name[name] = IntegrationConfig(name=name, platform=platform, path=config.parent / "exports" / platform,
                                          entities=kept + [e for e in entities if e not in kept])
    integrations = [by_name.pop(i.name, i) for i in cfg.integrations] + list(by_name.values())
    base = config.parent
    relative = [i.model_copy(update={"path": i.path.relative_to(base)}) if i.path and i.path.is_relative_to(base)
                else i for i in integrations]
    server = cfg.warehouse if not isinstance(cfg.warehouse, Path) else None  # a demo run into PostgreSQL
    emulated = StewardConfig(warehouse=server or Path("steward.duckdb"), work_dir=Path("work"),
                             report_dir=Path("reports"), audit_anchor=DEMO_ANCHOR, integrations=relative,
                             warehouse_password_env=cfg.warehouse_password_env)
    return write_config(emulated, config.with_name("steward.emulated.yaml"))
