"""Two costs dbt's libraries pay on every build that Steward's builds can skip, with dbt's behaviour unchanged.

**Templates compiled once** (``use_template_cache``). dbt renders every model, hook, test and macro it runs through
Jinja's ``Environment.from_string``, which lexes, parses and compiles the text to Python each time: Jinja's own
bytecode cache serves only templates loaded by name. A daily run at 1M people compiled 490 templates (396
distinct) for 0.9 s of the one interpreter lock its two dbt threads share, every run, for text that changes only
when the project does. dbt's environments now look each text up first in this process's memory, then in Jinja's
``FileSystemBytecodeCache`` in the build's working folder (what Jinja writes: the code object marshalled behind
its version magic and the text's checksum, replaced atomically), and compile only what neither holds. The key is
the text itself with the environment's class and the Jinja and dbt versions, so an edited model is a new entry.
``DBT_MACRO_DEBUGGING`` (dbt's own source dump) bypasses the cache.

**Log events built without ``ParseDict``** (``_event_init``). dbt builds a protobuf message for every event it fires
(~3,000 in that daily run: each query, begin, commit, node start and end), even when nothing logs it, through
protobuf's pure-Python ``json_format.ParseDict``: ~40 us each, 0.4 s of the same lock. The message class's own
constructor takes the same keyword dictionary in ~2 us; an event whose fields it does not take as given (a text
where a number belongs, a timestamp given as text) falls back to dbt's own path, with its warning.

**No log line made for nobody** (``_fire_event``). dbt-common's ``EventManager.fire_event`` then wraps every event
in a second message, with its text formatted, a timestamp and, again, ``ParseDict`` (~70 us, 0.2 s of a 1M daily
run), before it asks anyone whether they want it. A Steward build logs to no file and no console
(``--log-level none``); its listeners are dbt's own tracking callback (``BehaviorChangeEvent`` only) and, with
``STEWARD_DBT_LOG_LEVEL``, the echo of info, warn and error lines. An event none of them wants, at a level that is
not a warning dbt must police (``--warn-error``), is dropped before its message is made; anything else (a logger,
a callback Steward does not know, a warning) goes through dbt's own path.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from types import CodeType

__all__ = ["install", "listens_to", "use_template_cache"]

_MEMO_MAX = 4096  # distinct texts kept in memory: the project's ~400, with room for other projects in a process
_MEMO: OrderedDict[str, CodeType] = OrderedDict()
_LOCK = threading.Lock()
_DISK: dict[str, object] = {"cache": None, "folder": None}
_DISK_MAX_FILES = 5000  # a folder grown past this (edited models leave their old entries) is emptied
_ORIGINAL_EVENT_INIT = None
_ORIGINAL_FIRE_EVENT = None
_LISTENERS: dict[object, object] = {}  # a callback dbt adds itself -> which events it reads (name, level) -> bool
_INSTALLED = False


def install() -> None:
    """Patch dbt's two Jinja environment classes, its event base class and its event manager, once per process."""
    global _INSTALLED, _ORIGINAL_EVENT_INIT, _ORIGINAL_FIRE_EVENT
    if _INSTALLED:
        return
    from dbt_common.clients import jinja as dbt_jinja
    from dbt_common.events.base_types import BaseEvent
    from dbt_common.events.event_manager import EventManager

    for cls in (dbt_jinja.MacroFuzzEnvironment, dbt_jinja.NativeSandboxEnvironment):
        cls.compile = _compile  # type: ignore[method-assign]
    _ORIGINAL_EVENT_INIT = BaseEvent.__init__
    BaseEvent.__init__ = _event_init  # type: ignore[method-assign]
    try:
        from dbt.tracking import track_behavior_change_warn
    except ImportError:  # pragma: no cover - another dbt: its callbacks are unknown, every event keeps its message
        pass
    else:
        _LISTENERS[track_behavior_change_warn] = lambda name, level: name == "BehaviorChangeEvent"
    _ORIGINAL_FIRE_EVENT = EventManager.fire_event
    EventManager.fire_event = _fire_event  # type: ignore[method-assign]
    _INSTALLED = True


def listens_to(levels: frozenset[str]):
    """Mark a dbt callback of Steward's as reading only events at ``levels`` (``info``, ``warn``...): an event at
    another level is not made into a message for it (``_fire_event``)."""
    def mark(callback):
        callback.steward_reads = lambda name, level: level in levels  # type: ignore[attr-defined]
        return callback
    return mark


def use_template_cache(folder: Path | None) -> None:
    """Keep compiled templates in ``folder`` (created on first use) as well as in memory; None: memory only."""
    if folder == _DISK["folder"]:
        return
    cache = None
    if folder is not None:
        from jinja2.bccache import FileSystemBytecodeCache

        try:
            folder.mkdir(parents=True, exist_ok=True)
            if sum(1 for _ in zip(os.scandir(folder), range(_DISK_MAX_FILES + 1))) > _DISK_MAX_FILES:
                FileSystemBytecodeCache(str(folder)).clear()
            cache = FileSystemBytecodeCache(str(folder))
        except OSError:  # an unwritable folder: memory only, never a failed build
            cache = None
    with _LOCK:
        _DISK["cache"], _DISK["folder"] = cache, folder


def _versions() -> str:
    """Jinja's and dbt-common's versions: the compiled code is theirs to decide."""
    global _VERSIONS
    if _VERSIONS is None:
        from importlib.metadata import PackageNotFoundError, version

        found = []
        for package in ("jinja2", "dbt-common"):
            try:
                found.append(version(package))
            except PackageNotFoundError:
                found.append("?")
        _VERSIONS = "/".join(found)
    return _VERSIONS


_VERSIONS: str | None = None


def _key(env, source: str, name: str | None, filename: str | None, defer_init: bool) -> str:
    cls = type(env)
    parts = (f"{cls.__module__}.{cls.__qualname__}", _versions(), str(name), str(filename), str(defer_init))
    digest = hashlib.sha256("\x00".join(parts).encode())
    digest.update(b"\x00" + source.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _compile(self, source, name=None, filename=None, raw=False, defer_init=False):
    """``jinja2.Environment.compile``, answered from memory or the folder when the same text was compiled before."""
    import jinja2
    from dbt_common.clients import jinja as dbt_jinja

    if raw or not isinstance(source, str) or dbt_jinja.MACRO_DEBUGGING:
        return jinja2.Environment.compile(self, source, name, filename, raw, defer_init)
    key = _key(self, source, name, filename, defer_init)
    with _LOCK:
        code = _MEMO.get(key)
        if code is not None:
            _MEMO.move_to_end(key)
            return code
        disk = _DISK["cache"]
    bucket = None
    if disk is not None:
        try:
            bucket = disk.get_bucket(self, key, None, source)  # type: ignore[attr-defined]
            code = bucket.code
        except Exception:  # noqa: BLE001 - an unreadable entry is compiled again
            bucket, code = None, None
    if code is None:
        code = jinja2.Environment.compile(self, source, name, filename, raw, defer_init)
        if bucket is not None:
            bucket.code = code
            try:
                disk.set_bucket(bucket)  # type: ignore[attr-defined]
            except OSError:
                pass
    with _LOCK:
        _MEMO[key] = code
        while len(_MEMO) > _MEMO_MAX:
            _MEMO.popitem(last=False)
    return code


def _fire_event(self, e, level=None, node=None, force_warn_or_error_handling: bool = False) -> None:
    """dbt-common's ``EventManager.fire_event``, which returns without a trace when no logger is set and no
    callback reads the event: the message it would make is left unmade. ``level`` resolves as dbt's does."""
    if not (self.loggers or force_warn_or_error_handling or os.environ.get("DBT_TEST_BINARY_SERIALIZATION")):
        tag = level.value if level else e.level_tag().value
        if not (tag == "warn" and self.require_warn_or_error_handling):
            name = type(e).__name__
            if not any(_reads(callback, name, tag) for callback in self.callbacks):
                return
    return _ORIGINAL_FIRE_EVENT(self, e, level=level, node=node,  # type: ignore[misc]
                                force_warn_or_error_handling=force_warn_or_error_handling)


def _reads(callback, name: str, level: str) -> bool:
    """Whether ``callback`` may read the event: yes unless Steward knows which events it reads."""
    reads = getattr(callback, "steward_reads", None)
    if reads is None:
        try:
            reads = _LISTENERS.get(callback)
        except TypeError:  # an unhashable callable: unknown
            return True
    return reads is None or bool(reads(name, level))


def _event_init(self, *args, **kwargs) -> None:
    """dbt-common's ``BaseEvent.__init__`` with the message built by its class's constructor when that takes the
    fields as given; anything else (positional text, ``msg``/``base_msg`` it stringifies, a field the constructor
    refuses) goes through dbt's own ``ParseDict`` path."""
    if args or "msg" in kwargs or "base_msg" in kwargs:
        return _ORIGINAL_EVENT_INIT(self, *args, **kwargs)  # type: ignore[misc]
    try:
        message = getattr(self.PROTO_TYPES_MODULE, type(self).__name__)(**kwargs)
    except Exception:  # noqa: BLE001 - dbt's path, which converts or warns
        return _ORIGINAL_EVENT_INIT(self, *args, **kwargs)  # type: ignore[misc]
    self.pb_msg = message
