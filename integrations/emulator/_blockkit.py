"""Slack's Block Kit limits, as the emulator enforces them: what Slack refuses, worded the way Slack words it.

Kept apart from the HTTP emulator because it is a second job: a message builder can be checked against these rules
without starting a server (``block_errors(payload["blocks"]) == []``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["block_errors", "content_error", "MAX_BLOCKS", "MAX_TEXT", "MAX_BLOCKS_TOTAL_TEXT"]

MAX_BLOCKS = 50
MAX_TEXT = 40_000
MAX_SECTION_TEXT = 3_000
MAX_FIELDS, MAX_FIELD_TEXT = 10, 2_000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTION_ELEMENTS, MAX_BUTTON_TEXT, MAX_BUTTON_VALUE, MAX_ACTION_ID = 25, 75, 2_000, 255
# Undocumented, measured by Slack users (slackapi/bolt-js#2509): about 13.2k characters of block text in total.
MAX_BLOCKS_TOTAL_TEXT = 13_000
KNOWN_BLOCKS = frozenset({"section", "header", "context", "divider", "actions", "image", "rich_text", "markdown"})


def content_error(args: dict[str, Any]) -> dict[str, Any] | None:
    """The ``{"ok": false, ...}`` answer Slack gives a message it will not take, or None when it is fine."""
    text, blocks = args.get("text"), args.get("blocks")
    if not text and not blocks:
        return {"ok": False, "error": "no_text"}
    if text is not None and len(str(text)) > MAX_TEXT:
        return {"ok": False, "error": "msg_too_long"}
    if blocks is not None:
        errors = block_errors(blocks)
        if errors:
            return {"ok": False, "error": "invalid_blocks", "errors": errors,
                    "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]}}
        if _blocks_text_length(blocks) > MAX_BLOCKS_TOTAL_TEXT:
            return {"ok": False, "error": "msg_blocks_too_long"}
    return None


def block_errors(blocks: Any) -> list[str]:
    """Slack's Block Kit limits that matter for alerts, as Slack words them (with a json-pointer)."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    if len(blocks) > MAX_BLOCKS:
        return [f"must contain at most {MAX_BLOCKS} items [json-pointer:/blocks]"]
    errors: list[str] = []
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") not in KNOWN_BLOCKS:
            errors.append(f"failed to match all allowed schemas [json-pointer:/blocks/{i}]")
            continue
        errors += _one_block_errors(block, f"/blocks/{i}")
    return errors


def _one_block_errors(block: dict[str, Any], at: str) -> list[str]:
    kind, errors = block["type"], []
    if kind == "header":
        text = block.get("text") or {}
        if text.get("type") != "plain_text":
            errors.append(f"must be plain_text [json-pointer:{at}/text/type]")
        errors += _too_long(text.get("text"), MAX_HEADER_TEXT, f"{at}/text/text")
    elif kind == "section":
        fields = block.get("fields") or []
        if not block.get("text") and not fields:
            errors.append(f"must provide text or fields [json-pointer:{at}]")
        errors += _too_long((block.get("text") or {}).get("text"), MAX_SECTION_TEXT, f"{at}/text/text")
        if len(fields) > MAX_FIELDS:
            errors.append(f"must contain at most {MAX_FIELDS} items [json-pointer:{at}/fields]")
        for j, item in enumerate(fields):
            errors += _too_long((item or {}).get("text"), MAX_FIELD_TEXT, f"{at}/fields/{j}/text")
    elif kind == "context":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
            errors.append(f"must contain 1 to {MAX_CONTEXT_ELEMENTS} items [json-pointer:{at}/elements]")
    elif kind == "actions":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= MAX_ACTION_ELEMENTS:
            errors.append(f"must contain 1 to {MAX_ACTION_ELEMENTS} items [json-pointer:{at}/elements]")
        for j, element in enumerate(elements):
            errors += _button_errors(element, f"{at}/elements/{j}")
    return errors


def _button_errors(element: Any, at: str) -> list[str]:
    """A button, the one interactive element Steward posts: plain-text label, action id and value within limits."""
    if not isinstance(element, dict) or element.get("type") != "button":
        return [f"failed to match all allowed schemas [json-pointer:{at}]"]
    text = element.get("text") or {}
    errors = [] if text.get("type") == "plain_text" else [f"must be plain_text [json-pointer:{at}/text/type]"]
    errors += _too_long(text.get("text"), MAX_BUTTON_TEXT, f"{at}/text/text")
    errors += _too_long(element.get("action_id"), MAX_ACTION_ID, f"{at}/action_id")
    errors += _too_long(element.get("value"), MAX_BUTTON_VALUE, f"{at}/value")
    if element.get("style") not in (None, "primary", "danger"):
        errors.append(f"must be one of primary, danger [json-pointer:{at}/style]")
    return errors


def _too_long(text: Any, limit: int, pointer: str) -> list[str]:
    if text is None:
        return []
    if not isinstance(text, str) or not text:
        return [f"must be a non-empty string [json-pointer:{pointer}]"]
    return [f"must be less than {limit + 1} characters [json-pointer:{pointer}]"] if len(text) > limit else []


def _blocks_text_length(value: Any) -> int:
    if isinstance(value, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else _blocks_text_length(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_blocks_text_length(v) for v in value)
    return 0
