"""dbt's parse of the project, kept in the working folder so that a run does not parse again what did not change.

Every ``dbt build`` first parses the whole project (every model, macro and test: a few seconds of CPU, more than a
tenth of a demo run's transform). dbt's own partial parsing cannot help a governance run: it starts over whenever
a var changes, and ``as_of`` (the run's start) and ``run_id`` change on every run. Both are read only when dbt
compiles a node for the build (``as_of()`` macro, ``var('run_id')`` in a model's SQL), never in a ``config()``,
``ref()`` or ``source()``, so the parse is the same for every run that shares everything else.

So the parse is keyed by what it depends on: the dbt and adapter versions, every file of the project, the profile
(a DuckDB file by its name only: dbt names the database after it, and a copied or moved warehouse parses alike), and
every var but ``as_of``, ``run_id`` and the policy's thresholds and lists that models read only as values in their
SQL (:data:`COMPILE_VARS`; of a pre-launch audit's ``launch`` var, only what decides the launch models' references:
``parse_vars``): a team that tunes a threshold reuses its parse. A build whose key has a saved parse hands it to
dbt (``dbtRunner(manifest=...)``, dbt's documented way to invoke it repeatedly); one without lets dbt parse as usual
and keeps the file dbt writes for its partial parsing (``target/partial_parse.msgpack``, the fully processed
manifest) under the key. Compilation, models, data tests and unit tests all run as before.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import metadata
from pathlib import Path

__all__ = ["RUN_VARS", "COMPILE_VARS", "LAUNCH_SHAPE", "parse_vars", "parse_key", "load", "forget_partial", "keep"]

# read only at compile time: a change does not change the parse (``per_key_vouched``: a governance build wrote
# ledger.vouched_tests, dbt_project/macros/per_key_tests.sql)
RUN_VARS = ("as_of", "run_id", "per_key_vouched")
# the policy's scope vars that models and macros read only as values in the SQL they render (a threshold, a list of
# codes, a window), never in a config(), nor to choose which ref() or source() a model calls: dbt reads them when it
# compiles a node for the build, so the parse is the same whatever they are (tests/dbt/test_launch_parse.py parses
# with every one of them changed and compares). Not here: ``codings`` (gov_data_quality__codings refs a staged model
# per coded column the policy names) and ``launch`` (LAUNCH_SHAPE); a var not listed stays in the key.
COMPILE_VARS = (
    "bias_dimensions", "bias_models", "oversight_min_confidence", "oversight_high_value_revenue",
    "metric_window_days", "freshness_sla_hours", "consent_email_subscriptions", "retention_days", "pii_scan_schemas",
    "pii_sample_rows", "pii_min_match_share", "pii_allowed_tables", "contact_cap_per_week",
    "oversight_sensitive_segments", "model_registry", "anomaly_baseline_weeks", "anomaly_detection_days",
    "anomaly_min_scale", "anomaly_min_relative_scale", "lifecycle_stage_requires", "propagation_lag_hours",
    "spend_flight_grace_days", "volume_baseline_batches",
)
# the pre-launch audit's `launch` var (flows/launch_checks.py ``launch_vars``): the launch models' config() reads
# only whether it is set, and these fields alone decide which ref()/source() a launch model calls
# (launch__audience reads source('launch_input', 'audience') for a part chosen by a query); everything else in it
# (the audit id, channels, dimensions, thresholds) is read when dbt compiles the model for the build
LAUNCH_SHAPE = ("audience_from_query", "eligible_from_query")
_ADAPTERS = ("dbt-core", "dbt-adapters", "dbt-duckdb", "dbt-postgres")
_FOLDER = "parsed"  # under the build's working folder
_PARTIAL = "partial_parse.msgpack"


def parse_vars(dbt_vars: dict, compile_vars: bool = False) -> dict:
    """The vars dbt's parse depends on: all but :data:`RUN_VARS` and :data:`COMPILE_VARS`, and of the ``launch``
    var only its shape (:data:`LAUNCH_SHAPE`), so that every audit of a workspace after the first reuses its parse
    (a launch build of eight models cost a parse of the whole project per audit, most of what an audit took).
    ``compile_vars=True`` keeps :data:`COMPILE_VARS`: what a build's results depend on, not only its parse (a
    governance run's stored build state, ``changes.build_key``: another threshold is another build)."""
    left_out = RUN_VARS if compile_vars else (*RUN_VARS, *COMPILE_VARS)
    kept = {k: v for k, v in dbt_vars.items() if k not in left_out}
    if isinstance(kept.get("launch"), dict):
        kept["launch"] = {"shape": {k: bool(kept["launch"].get(k)) for k in LAUNCH_SHAPE}}
    return kept


def parse_key(project: Path, profiles: Path, dbt_vars: dict, compile_vars: bool = False) -> str:
    """A digest of everything dbt's parse of ``project`` depends on, except the vars a run or a threshold changes
    (``compile_vars=True``: except only the run's, :func:`parse_vars`)."""
    digest = hashlib.sha256()
    for name in _ADAPTERS:
        digest.update(f"{name}={_version(name)}\n".encode())
    digest.update(_profile_named((profiles / "profiles.yml").read_text(encoding="utf-8")).encode())
    digest.update(json.dumps(parse_vars(dbt_vars, compile_vars), sort_keys=True, default=str).encode())
    for path in sorted(p for p in project.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def _profile_named(text: str) -> str:
    """The profile with a DuckDB file's ``path`` reduced to the file's name without its folder and suffix: dbt-duckdb
    names the database after it, and that name is in every parsed node; the folder is in none."""
    return re.sub(r'^(\s*)path: (".*")$', lambda m: f"{m.group(1)}path-stem: {Path(json.loads(m.group(2))).stem}",
                  text, flags=re.M)


def load(work_dir: Path, key: str):
    """The saved parse for ``key``, ready for ``dbtRunner(manifest=...)``; None when there is none or it cannot be
    read (dbt then parses, and :func:`keep` replaces it)."""
    path = work_dir / _FOLDER / f"{key}.msgpack"
    if not path.is_file():
        return None
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    try:
        manifest = Manifest.from_msgpack(path.read_bytes(), decoder=extended_mashumuro_decoder)
    except Exception:  # noqa: BLE001 - a damaged or foreign file is a cache miss, never a failed run
        path.unlink(missing_ok=True)
        return None
    manifest.build_flat_graph()  # as dbt's own parse leaves it: the `graph` variable of the Jinja context
    return manifest


def forget_partial(target: Path) -> None:
    """Remove dbt's partial-parse file before a build that parses, so that a file found after it is this parse."""
    (target / _PARTIAL).unlink(missing_ok=True)


def keep(work_dir: Path, target: Path, key: str) -> None:
    """Save the parse dbt just wrote under ``key`` (only the newest key is kept: older ones belong to a policy,
    project or dbt version the workspace no longer runs). Nothing to save when dbt did not parse."""
    written = target / _PARTIAL
    if not written.is_file():
        return
    folder = work_dir / _FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.msgpack"):
        old.unlink(missing_ok=True)
    partial = folder / f"{key}.part"
    partial.write_bytes(written.read_bytes())
    partial.replace(folder / f"{key}.msgpack")  # whole or not at all


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "-"
