"""Platform adapters. ``build_adapter`` turns one configured integration into its adapter."""

from __future__ import annotations

from pathlib import Path

from ..warehouse import Warehouse
from ._protocol import Batch, ControlResult, Health, Rejected, SourceAdapter, Stream
from .export_files import ExportFilesAdapter

__all__ = ["build_adapter", "Batch", "ControlResult", "Health", "Rejected", "SourceAdapter", "Stream",
           "ExportFilesAdapter"]


def build_adapter(name: str, platform: str, kind: str, path: Path, warehouse: Warehouse,
                  entities: list[str] | None = None) -> SourceAdapter:
    if kind == "export_files":
        return ExportFilesAdapter(name, platform, path, warehouse, entities)
    raise ValueError(f"integration '{name}': unknown kind '{kind}'")
