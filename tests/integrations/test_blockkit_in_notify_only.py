"""Slack messages are built in one place: no module outside ``integrations/notify/`` writes Block Kit.

Block Kit used to be built in three places (``notify/message.py``, ``health/messages.py`` and the launch checks'
``verdict_payload``), each with its own header shape and limits. Now producers build the neutral ``notify.model``
and ``notify.blockkit`` renders it; this scan keeps it that way. The Slack emulator is the one exception: it parses
and validates Block Kit, as Slack does.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("flows", "contracts", "integrations")
ALLOWED = (ROOT / "integrations" / "notify", ROOT / "integrations" / "emulator")
BLOCK_TYPES = {"section", "header", "context", "mrkdwn", "plain_text", "divider", "actions", "rich_text"}


def block_kit_in(source: str) -> list[int]:
    """Lines of dict literals (or ``dict(...)`` calls) that are Block Kit: a ``"blocks"`` key, or a ``"type"`` of a
    block or text object."""
    found = []
    for node in ast.walk(ast.parse(source)):
        pairs: list[tuple[object, ast.AST]] = []
        if isinstance(node, ast.Dict):
            pairs = [(k.value, v) for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            pairs = [(kw.arg, kw.value) for kw in node.keywords if kw.arg]
        for key, value in pairs:
            if key == "blocks" or (key == "type" and isinstance(value, ast.Constant) and value.value in BLOCK_TYPES):
                found.append(node.lineno)
                break
    return found


def test_no_module_outside_notify_builds_block_kit():
    offenders = []
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            if any(path.is_relative_to(allowed) for allowed in ALLOWED):
                continue
            offenders += [f"{path.relative_to(ROOT)}:{line}" for line in block_kit_in(path.read_text("utf-8"))]
    assert offenders == []


def test_the_scan_finds_block_kit_the_way_it_was_built_before():
    """The launch verdict and the health monitor's context block, as they were written outside notify/."""
    before = '''
blocks = [{"type": "header", "text": {"type": "plain_text", "text": title}}]
blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "Steward integration health monitor"}]})
payload = dict(text=text, blocks=blocks)
'''
    assert sorted(block_kit_in(before)) == [2, 2, 3, 3, 4]
    assert block_kit_in('row = {"type": "contacts", "text": "x"}; args = {"channel": "#a", "text": "b"}') == []


def test_the_renderer_is_where_block_kit_is_built():
    assert block_kit_in((ROOT / "integrations" / "notify" / "blockkit.py").read_text("utf-8"))
