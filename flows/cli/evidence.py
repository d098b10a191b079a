"""``steward evidence --since DATE [--until DATE] --out DIR [--zip]``: the evidence pack an auditor or DPO files.

The pack itself is built by flows/evidence.py; docs/evidence.md says what is in it. Exit 0 when the pack is written
(even when the audit log does not verify: the pack then says NOT verified, which is itself the evidence), 2 on bad
input, an ``--out`` that already holds something, or a window in which no run started.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._console import err, one_line_errors

__all__ = ["evidence"]


def evidence(since: str = typer.Option(..., "--since", metavar="DATE",
                                       help="Start of the window: a date (2026-12-01) or an ISO timestamp (UTC)."),
             until: str = typer.Option(None, "--until", metavar="DATE",
                                       help="End of the window, that day included (default: now)."),
             out: Path = typer.Option(..., "--out", "-o", help="Folder to write the pack to (must not exist yet)."),
             as_zip: bool = typer.Option(False, "--zip", help="Write OUT.zip instead of a folder."),
             config: Path = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml.")) -> None:
    """Write an evidence pack for a window: runs, findings, actions, the verified audit log and the privacy, bias
    and oversight figures, each mapped to the GDPR / EU AI Act obligation it evidences."""
    from ...contracts.policy import load_policy
    from ...integrations.warehouse import Warehouse

    from ..config import load_config
    from ..evidence import parse_window, write_pack

    with one_line_errors():
        window = parse_window(since, until)
        cfg = load_config(config)
        policy = load_policy(cfg.policy)
        path = write_pack(Warehouse(cfg.warehouse), policy, window, out, as_zip, cfg.audit_anchor)
    err.print(str(path))
