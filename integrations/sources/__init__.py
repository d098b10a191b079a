"""Platform adapters. ``build_adapter`` turns one configured integration into its adapter.

API adapters are imported only when configured, so a workspace of export files never loads an HTTP stack it
does not use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...contracts.errors import ConfigError
from ..warehouse import Warehouse
from ...contracts.batch import Batch, Rejected, Stream
from ._protocol import ControlResult, Health, SourceAdapter
from .export_files import ExportFilesAdapter
from .http import RetryPolicy

if TYPE_CHECKING:
    import httpx

__all__ = ["build_adapter", "API_ADAPTERS", "Batch", "ControlResult", "Health", "Rejected", "SourceAdapter",
           "Stream", "ExportFilesAdapter"]

# platform -> "module:Class" under steward.integrations.sources
API_ADAPTERS: dict[str, str] = {
    "salesforce": "salesforce:SalesforceAdapter",
    "hubspot": "hubspot:HubspotAdapter",
    "marketo": "marketo:MarketoAdapter",
    "google_ads": "google_ads:GoogleAdsAdapter",
}


def build_adapter(name: str, platform: str, kind: str, path: Path | None, warehouse: Warehouse,
                  entities: list[str] | None = None, *, base_url: str | None = None,
                  credentials: dict[str, str] | None = None, options: dict[str, Any] | None = None,
                  policy: RetryPolicy | None = None, batch_rows: int | None = None,
                  client: httpx.Client | None = None, delivery: str = "snapshot",
                  mappings: dict[str, Any] | None = None) -> SourceAdapter:
    """The adapter for one configured integration. ``client`` (API kinds only) is the ``httpx.Client`` the adapter
    sends through: None in production (the adapter builds its own), an in-process transport in fast tests.
    ``delivery`` (export files only) says whether each file holds the whole entity or only a day's changes.
    ``mappings`` (export files and warehouse tables): entity -> ``EntityMapping``, where each entity is read from
    and how its columns map onto its contract."""
    if kind == "export_files":
        return ExportFilesAdapter(name, platform, path, warehouse, entities,  # type: ignore[arg-type]
                                  **({"batch_rows": batch_rows} if batch_rows else {}), delivery=delivery,
                                  mappings=mappings)
    if kind == "api":
        if platform not in API_ADAPTERS:
            raise ConfigError(f"integration '{name}': no API adapter for platform '{platform}' "
                              f"(API platforms: {', '.join(sorted(API_ADAPTERS))})")
        module, cls = API_ADAPTERS[platform].split(":")
        adapter_cls = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
        extra: dict[str, Any] = {"batch_rows": batch_rows} if batch_rows else {}
        if client is not None:
            extra["client"] = client
        return adapter_cls(name, base_url=base_url, credentials=credentials or {}, entities=entities,
                           options=options or {}, policy=policy or RetryPolicy(), **extra)
    if kind == "warehouse_tables":
        from .warehouse_tables import WarehouseTablesAdapter
        return WarehouseTablesAdapter(name, platform, path=path, dsn=base_url, entities=entities,
                                      options=options or {}, batch_rows=batch_rows, mappings=mappings)
    raise ConfigError(f"integration '{name}': unknown kind '{kind}'")
