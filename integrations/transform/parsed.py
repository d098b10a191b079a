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
import os
import re
import threading
from importlib import metadata
from pathlib import Path

__all__ = ["RUN_VARS", "COMPILE_VARS", "LAUNCH_SHAPE", "parse_vars", "parse_key", "load", "give_back",
           "forget_partial", "keep"]

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
# Manifests this process read and whose build completed, by the file they were read from and its stamp (load,
# give_back): at most _KEEP of them (a manifest is tens of MB)
_READ: dict[Path, tuple[tuple[int, int, int], object]] = {}
_READ_LOCK = threading.Lock()
_KEEP = 2


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
    read (dbt then parses, and :func:`keep` replaces it).

    A process that builds more than once (a test worker, a Python session or flow calling the build repeatedly; a
    ``steward run`` builds once) gets the manifest its last build of this file gave back (:func:`give_back`) instead
    of reading the file again: reading it is ~0.14 CPU s, as much as dbt's own work for a build of a few models. Handing one manifest to one build after another is
    dbt's documented way to invoke it repeatedly; it is handed to one build at a time (taken here, given back when
    the build completed), since dbt writes each node's compiled SQL into it while it builds."""
    path = work_dir / _FOLDER / f"{key}.msgpack"
    try:
        stamp = _stamp(path) if path.is_file() else None
    except OSError:
        stamp = None
    if stamp is None:
        return None
    with _READ_LOCK:
        read = _READ.pop(path, None)
    if read is not None and read[0] == stamp:
        return read[1]
    return _read(path)


def _read(path: Path):
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    try:
        manifest = Manifest.from_msgpack(path.read_bytes(), decoder=extended_mashumuro_decoder)
    except Exception:  # noqa: BLE001 - a damaged or foreign file is a cache miss, never a failed run
        path.unlink(missing_ok=True)
        return None
    manifest.build_flat_graph()  # as dbt's own parse leaves it: the `graph` variable of the Jinja context
    return manifest


def give_back(work_dir: Path, key: str, manifest) -> None:
    """After a completed build that used ``manifest`` (read by :func:`load` for ``key``, or handed to dbt by the
    caller for it), keep it for the next build of this process. Nothing is kept when the saved parse is gone or was
    replaced meanwhile (its stamp then differs, and the next build reads the new file)."""
    if manifest is None:
        return
    path = work_dir / _FOLDER / f"{key}.msgpack"
    try:
        stamp = _stamp(path)
    except OSError:
        return
    with _READ_LOCK:
        _READ.pop(path, None)
        _READ[path] = (stamp, manifest)
        while len(_READ) > _KEEP:
            del _READ[next(iter(_READ))]  # the oldest given back


def _stamp(path: Path) -> tuple[int, int, int]:
    """What tells a saved parse from the one it replaced (:func:`keep` writes a new file and renames it)."""
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


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
