"""Costs dbt's libraries pay on every build that Steward's builds can skip, with dbt's behaviour unchanged.

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

**Each node's macro namespace built in one pass** (``_build_namespace``, ``_context_to_dict``). dbt gives every node
it compiles or runs a context of its own holding every macro of the project, dbt and the adapter (~650), each as a
``MacroGenerator`` bound to that context: built through three nested constructors and a builder's per-macro
bookkeeping, then copied into the context by looking each name up through a generator of five dictionaries. Two
contexts a node, ~3 ms each: a quarter of a small build's CPU. The same dictionaries are now made directly (the
generators' attributes set as their constructors set them) and merged in the search order's reverse, so each name
keeps the macro dbt's lookup would find. A manifest whose macros are not filed under their own package and name,
or a namespace of another kind (a unit test's), takes dbt's own path.

**Python's collector paced for a build** (``collector_during_build``). Those contexts are reference cycles (each
generator holds the context that holds it), so each is freed only by the cyclic collector, and a build makes
hundreds of thousands of objects: with CPython's default thresholds (700, 10, 10) the collector ran ~700 times in a
small build and walked everything the process held (dbt's manifest among it) at each full collection, ~15% of the
build's CPU. During a build the youngest generation is collected every 10,000 allocations and the older ones more
rarely (as the test suite's workers always do); a one-shot ``steward run``, which ends after its build
(``freeze_before_builds``), also freezes what it holds when the build starts out of the walks. Garbage is still
collected; a long-lived process (``steward serve``, a test worker) freezes nothing, since what it froze would never
be freed.

**Query results typed without a new type tester each** (``_build_type_tester``, ``_empty_table``). dbt makes every
result it fetches (each data test's failure count, each column listing) into an agate table, and for each builds
agate's type tester anew: seven data types, of which the date and datetime types each build parsedatetime's locale
constants (its regular expressions, from ICU's locale data), ~0.5 ms a result and ~15% of the Python a build's
nodes run. The same types are now made once per process and shared, as dbt already shares its own default tester
(``DEFAULT_TYPE_TESTER``) among threads: they hold no state a table changes, only their formats and null values. An
empty table (dbt's stand-in for "no result") is given an empty set of types instead of agate's default tester; it
has no columns to type.
"""

from __future__ import annotations

import gc
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType

__all__ = ["collector_during_build", "freeze_before_builds", "install", "listens_to", "use_template_cache"]

_MEMO_MAX = 4096  # distinct texts kept in memory: the project's ~400, with room for other projects in a process
_MEMO: OrderedDict[str, CodeType] = OrderedDict()
_LOCK = threading.Lock()
_DISK: dict[str, object] = {"cache": None, "folder": None}
_DISK_MAX_FILES = 5000  # a folder grown past this (edited models leave their old entries) is emptied
_ORIGINAL_EVENT_INIT = None
_ORIGINAL_FIRE_EVENT = None
_ORIGINAL_BUILD_NAMESPACE = None
_ORIGINAL_TO_DICT = None
_LISTENERS: dict[object, object] = {}  # a callback dbt adds itself -> which events it reads (name, level) -> bool
_INSTALLED = False
_BUILD_THRESHOLDS = (10_000, 20, 20)  # CPython's collector during a build (the defaults are 700, 10, 10)
_GC_LOCK = threading.Lock()
_GC: dict = {"depth": 0, "saved": None, "freeze": False}


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
    _install_namespace()
    _install_result_types()
    _INSTALLED = True


def _install_namespace() -> None:
    global _ORIGINAL_BUILD_NAMESPACE, _ORIGINAL_TO_DICT
    from dbt.clients.jinja import MacroGenerator
    from dbt.context.macros import MacroNamespaceBuilder
    from dbt.context.manifest import ManifestContext

    if set(vars(MacroGenerator(None, None, None, None))) != {"context", "macro", "node", "stack"}:
        return  # pragma: no cover - another dbt's generator: its own constructor stays
    _ORIGINAL_BUILD_NAMESPACE = MacroNamespaceBuilder.build_namespace
    _ORIGINAL_TO_DICT = ManifestContext.to_dict
    MacroNamespaceBuilder.build_namespace = _build_namespace  # type: ignore[method-assign]
    ManifestContext.to_dict = _context_to_dict  # type: ignore[method-assign]


_RESULT_TYPES: dict[tuple, tuple] = {}  # string null values -> (dbt's seven types, the Text forced on text columns)


def _install_result_types() -> None:
    from dbt_common.clients import agate_helper

    original = agate_helper.build_type_tester
    if getattr(original, "_steward", False):
        return
    built = original(("x",), string_null_values=("null", ""))
    if [type(t) for t in built._possible_types][-1].__name__ != "Text" or set(built._force) != {"x"}:
        return  # pragma: no cover - another dbt-common's tester: its own builder stays
    agate_helper.build_type_tester = _build_type_tester
    agate_helper.empty_table = _empty_table
    _build_type_tester._original = original  # type: ignore[attr-defined]


def _build_type_tester(text_columns, string_null_values=("null", "")):
    """dbt-common's ``build_type_tester`` with its types made once per set of null values."""
    import agate

    key = tuple(string_null_values) if string_null_values is not None else None
    types = _RESULT_TYPES.get(key)
    if types is None:
        model = _build_type_tester._original((), string_null_values=string_null_values)  # type: ignore[attr-defined]
        types = _RESULT_TYPES.setdefault(key, (model._possible_types, agate.data_types.Text(null_values=key)))
    possible, text = types
    return agate.TypeTester(force={k: text for k in text_columns}, types=possible)


_build_type_tester._steward = True  # type: ignore[attr-defined]


def _empty_table():
    """dbt-common's ``empty_table``: a table of no rows and no columns, without agate's default type tester."""
    import agate

    return agate.Table(rows=[], column_types=())


def listens_to(levels: frozenset[str]):
    """Mark a dbt callback of Steward's as reading only events at ``levels`` (``info``, ``warn``...): an event at
    another level is not made into a message for it (``_fire_event``)."""
    def mark(callback):
        callback.steward_reads = lambda name, level: level in levels  # type: ignore[attr-defined]
        return callback
    return mark


def freeze_before_builds() -> None:
    """This process ends after its run (``steward run``, ``steward demo``): what it holds when a build starts is
    frozen out of the collector's walks (``gc.freeze``) for the rest of the process."""
    _GC["freeze"] = True


@contextmanager
def collector_during_build() -> Iterator[None]:
    """The cyclic collector at ``_BUILD_THRESHOLDS`` (or the process's own, where higher) while a build runs, the
    process's own thresholds again after; nested or concurrent builds share one setting. A collector switched off
    (``gc.disable``, a first threshold of 0) is left as it is."""
    with _GC_LOCK:
        _GC["depth"] += 1
        if _GC["depth"] == 1:
            saved = gc.get_threshold()
            _GC["saved"] = saved
            if saved[0] > 0:
                gc.set_threshold(*(max(own, build) for own, build in zip(saved, _BUILD_THRESHOLDS)))
            if _GC["freeze"]:
                gc.freeze()
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC["depth"] -= 1
            if _GC["depth"] == 0:
                gc.set_threshold(*_GC["saved"])


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


def _build_namespace(self, macros_by_package, ctx):
    """dbt's ``MacroNamespaceBuilder.build_namespace``: every macro as a generator bound to ``ctx`` and this node,
    filed by package (dbt's and the adapter's apart), this node's package's in ``locals``, the root project's in
    ``globals``, the adapter packages merged with the first in dbt's order winning."""
    from dbt.clients.jinja import MacroGenerator
    from dbt.context.macros import MacroNamespace

    for package_name, macros in macros_by_package.items():
        for name, macro in macros.items():
            if macro.package_name != package_name or macro.name != name:
                return _ORIGINAL_BUILD_NAMESPACE(self, macros_by_package, ctx)  # type: ignore[misc]
    new, node, stack = object.__new__, self.node, self.thread_ctx
    internal = self.internal_package_names
    for package_name, macros in macros_by_package.items():
        generators = {}
        for name, macro in macros.items():
            generator = new(MacroGenerator)
            generator.context, generator.macro, generator.node, generator.stack = ctx, macro, node, stack
            generators[name] = generator
        if package_name in internal:
            self.internal_packages.setdefault(package_name, {}).update(generators)
        else:
            self.packages.setdefault(package_name, {}).update(generators)
            if package_name == self.search_package:
                self.locals.update(generators)
            elif package_name == self.root_package:
                self.globals.update(generators)
    global_project_namespace: dict = {}
    for package_name in reversed(self.internal_package_names_order):
        if package_name in self.internal_packages:
            global_project_namespace.update(self.internal_packages[package_name])
    return MacroNamespace(global_namespace=self.globals, local_namespace=self.locals,
                          global_project_namespace=global_project_namespace, packages=self.packages)


def _context_to_dict(self):
    """dbt's ``ManifestContext.to_dict``: the context's members, then each macro name with the value
    ``MacroNamespace`` finds first (this package's, the root project's, a package's namespace by its name, ``dbt``,
    the adapter packages'), merged last-first instead of looked up name by name."""
    from dbt.context.macros import GLOBAL_PROJECT_NAME, MacroNamespace
    from dbt.context.manifest import ManifestContext

    namespace = self.namespace
    if type(namespace) is not MacroNamespace:
        return _ORIGINAL_TO_DICT(self)  # type: ignore[misc]
    dct = super(ManifestContext, self).to_dict()
    merged = dict(namespace.global_project_namespace)
    merged[GLOBAL_PROJECT_NAME] = namespace.global_project_namespace
    merged.update(namespace.packages)
    merged.update(namespace.global_namespace)
    merged.update(namespace.local_namespace)
    dct.update(merged)
    return dct


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
