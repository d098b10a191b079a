"""Which legal obligation each piece of the evidence pack evidences, and whether a window holds any evidence for it.

The mapping is policy data (policy.yaml's top-level ``obligations:``), not code: a DPO who reads Art. 30 differently
edits YAML. This module holds its model, the closed vocabulary of evidence kinds the pack can produce (a kind the pack
does not know would map an obligation to nothing and read as covered), and the one judgement the pack makes: for
each obligation, the pieces of evidence the window holds. Pure; the pack's reads live in
integrations/warehouse/evidence_reads.py and its orchestration in flows/evidence.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .finding import Family

__all__ = ["EVIDENCE_KINDS", "Obligation", "Piece", "Coverage", "coverage", "resolution", "OBLIGATION_ID"]

# What the pack can show, by kind -> what it is (the pack's index and docs/evidence.md use these words).
EVIDENCE_KINDS: dict[str, str] = {
    "runs": "governance runs in the window and the checks each evaluated",
    "findings": "findings with first seen, last seen and resolution",
    "actions": "automated actions and who decided them",
    "audit_log": "the audit log and its hash-chain verification",
    "campaign_controls": "campaigns Steward paused or resumed",
    "incidents": "incidents opened and resolved",
    "landing": "batches landed, rows quarantined and batches refused",
    "pii_inventory": "columns found holding personal data, by table",
    "retention": "records kept past their retention period, by entity",
    "consent": "consent checks: people contacted without consent or after opting out (counts)",
    "erasure": "erasure requests honoured and deletions propagated (counts)",
    "bias": "selection rates per group and their disparity (gov_bias__selection_rates)",
    "oversight": "human review of automated decisions: coverage, latency, unreviewed (counts)",
    "transparency": "automated decisions with a recorded reason, per model",
}
OBLIGATION_ID = r"^[a-z0-9_]+\.[a-z0-9_]+$"  # "gdpr.art17_19", "eu_ai_act.art14"


class Obligation(BaseModel):
    """One legal obligation and what evidences it: pack sections (``evidence``), every check of some families
    (``families``) and single checks (``checks``), each counted when the window holds it."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    law: str = Field(min_length=1)  # "GDPR", "EU AI Act"
    article: str = Field(min_length=1)  # "Art. 5(1)(c)"
    evidence: list[str] = Field(default_factory=list)
    families: list[Family] = Field(default_factory=list)
    checks: list[Annotated[str, Field(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_and_not_empty(self) -> "Obligation":
        unknown = [k for k in self.evidence if k not in EVIDENCE_KINDS]
        if unknown:
            raise ValueError(f"unknown evidence kind '{unknown[0]}' (known: {', '.join(EVIDENCE_KINDS)})")
        if not (self.evidence or self.families or self.checks):
            raise ValueError("names no evidence, family or check: nothing could ever evidence it")
        return self


@dataclass(frozen=True)
class Piece:
    """One piece of evidence for an obligation: what it is, where in the pack, and how much the window holds."""

    kind: str  # evidence | family | check
    name: str
    detail: str  # "12 rows in bias.csv", "evaluated in 3 runs, 2 findings"
    present: bool


@dataclass(frozen=True)
class Coverage:
    obligation_id: str
    obligation: Obligation
    pieces: tuple[Piece, ...]

    @property
    def evidenced(self) -> bool:
        return any(p.present for p in self.pieces)


def coverage(obligations: Mapping[str, Obligation], sections: Mapping[str, tuple[int, str]],
             checks_run: Mapping[str, int], check_families: Mapping[str, str],
             findings_per_check: Mapping[str, int]) -> list[Coverage]:
    """Every obligation with its pieces of evidence in the window, in the policy's order.

    Args:
        sections: evidence kind -> (rows, file) as the pack wrote it.
        checks_run: check id -> runs in the window that evaluated it.
        check_families: check id -> its family (the policy's checks).
        findings_per_check: check id -> findings in the window.
    """
    out = []
    for oid, ob in obligations.items():
        pieces = [_section(kind, sections.get(kind)) for kind in ob.evidence]
        for family in ob.families:
            ids = sorted(c for c, f in check_families.items() if f == family)
            runs = max((checks_run.get(c, 0) for c in ids), default=0)
            found = sum(findings_per_check.get(c, 0) for c in ids)
            pieces.append(Piece("family", family, f"{_n(len(ids), 'check')}, evaluated in {_n(runs, 'run')}, "
                                f"{_n(found, 'finding')}", runs > 0))
        for check in ob.checks:
            runs, found = checks_run.get(check, 0), findings_per_check.get(check, 0)
            pieces.append(Piece("check", check, f"evaluated in {_n(runs, 'run')}, {_n(found, 'finding')}" if runs
                                else "not evaluated in the window", runs > 0))
        out.append(Coverage(oid, ob, tuple(pieces)))
    return out


def _section(kind: str, written: tuple[int, str] | None) -> Piece:
    if written is None:
        return Piece("evidence", kind, "not in the pack", False)
    rows, file = written
    return Piece("evidence", kind, f"{_n(rows, 'row')} in {file}", rows > 0)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def resolution(last_run_id: str, final_run_id: str | None, incident_status: str | None,
               resolved_at: str | None, resolving_run: str | None) -> str:
    """How a finding ended, in words for the auditor: closed by a run that no longer found it (its incident's
    record), not found again by the window's last completed run, or still open when the window ends."""
    if incident_status == "resolved" and resolved_at:
        by = f" by run {resolving_run}" if resolving_run else ""
        return f"resolved {resolved_at}{by}: no longer found"
    if final_run_id and last_run_id != final_run_id:
        return f"not found again by run {final_run_id}, the last completed run in the window"
    return "open at the end of the window"
