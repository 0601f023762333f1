"""One pass per file dispatching to every enabled check; files spread over processes; results cached by content.

Data flows one way: discovery -> source -> engine -> checks -> findings -> reporters.
"""
from __future__ import annotations

import ast
import functools
import gc
import hashlib
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Sequence

from . import __version__, semgrep, suppressions
from .cache import Cache
from .config import Settings
from .discovery import MAIN_GUARD, SourceFile, discover, is_script_name, is_test_path, is_tooling_path
from .findings import Finding, Notification, dedupe_and_sort, with_fingerprints
from .model import ModuleContext, unlink, walk_with_parents
from .project import ProjectIndex
from .registry import (SCRIPT_FACT, FactPass, Handler, Rule, code_digest, fact_passes, get_rule, load_errors,
                       load_rules, resolve_selector)
from .source import Source, SourceError, char_column, decode, parse, read_anyway

# Files above this many bytes are not analysed (a notification says so): generated blobs, vendored bundles.
MAX_FILE_BYTES = 10 * 1024 * 1024
# Below this many uncached files a process pool costs more than it saves.
POOL_THRESHOLD = 24


@dataclass
class FileResult:
    """What one file gave: findings before suppression, its suppressions, notifications, its line count."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    suppressions: dict[int, list[str]] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    lines: int = 0
    analysed: bool = True
    module: str = ""
    facts: list[tuple[str, object]] = field(default_factory=list)

    def to_cache(self) -> dict:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "suppressions": {str(k): v for k, v in self.suppressions.items()},
            "notifications": [[n.kind, n.message, n.level] for n in self.notifications],
            "lines": self.lines,
            "analysed": self.analysed,
            "module": self.module,
            "facts": [[kind, data] for kind, data in self.facts],
        }

    @classmethod
    def from_cache(cls, path: str, data: dict) -> "FileResult":
        return cls(
            path=path,
            findings=[replace(Finding.from_dict(f), path=path) for f in data["findings"]],
            suppressions={int(k): v for k, v in data["suppressions"].items()},
            notifications=[Notification(path, kind, message, level) for kind, message, level in data["notifications"]],
            lines=data["lines"],
            analysed=data["analysed"],
            module=data["module"],
            facts=[(kind, value) for kind, value in data["facts"]],
        )


@dataclass
class ScanResult:
    findings: list[Finding]
    notifications: list[Notification]
    suppressed: int
    files: int
    files_analysed: int
    lines: int
    rules: list[Rule]
    semgrep_ran: bool
    semgrep_failed: bool
    timings: dict[str, float]
    tests_skipped: int = 0  # test modules left out (`include-tests` is off)
    # Finding -> its fix (analyzer.fixes.Fix), for the reports that carry fixes (SARIF); filled on request only.
    fixes: dict = field(default_factory=dict)

    @property
    def broken_checks(self) -> bool:
        return any(n.kind == "check-error" and n.level == "error" for n in self.notifications)

    @property
    def incomplete(self) -> bool:
        return any(n.kind in FILE_PROBLEMS for n in self.notifications)


FILE_PROBLEMS = frozenset({"read-error", "decode-error", "syntax-error", "too-complex", "too-large", "broken-path"})


# ---- the per-file pass (runs in worker processes) -----------------------------------------------------------
class DispatchTable(dict):
    """Handlers by exact node type (`table[ast.Call]`: every call handler, in registration order), and for calls
    also by the callee's last name: `by_callee[name]` holds the call handlers that take every call plus those
    registered for that name (`Rule.on(ast.Call, callees=...)`), in the same order; `any_callee` holds only the
    former, for a call whose name no filter names. Both are empty when no handler is filtered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.by_callee: dict[str, list[tuple["Rule | FactPass", Handler]]] = {}
        self.any_callee: list[tuple["Rule | FactPass", Handler]] = []

    def index_calls(self, limits: "dict[Handler, frozenset[str]]") -> "DispatchTable":
        """Fill `by_callee` and `any_callee` from `table[ast.Call]`, given the names each limited handler takes."""
        calls = self.get(ast.Call, [])
        limited = {i: limits[handler] for i, (_, handler) in enumerate(calls) if handler in limits}
        self.by_callee, self.any_callee = {}, []
        if limited:
            self.any_callee = [entry for i, entry in enumerate(calls) if i not in limited]
            for name in sorted(set().union(*limited.values())):
                self.by_callee[name] = [entry for i, entry in enumerate(calls)
                                        if i not in limited or name in limited[i]]
        return self


def build_dispatch(rules: Iterable[Rule], passes: Iterable[FactPass] = (),
                   readers: Iterable[Rule] | None = None) -> DispatchTable:
    """Handlers by exact node type. A fact pass's handlers come first, and only for the kinds of fact that one of
    these rules (or of `readers`, when given) reads."""
    table = DispatchTable()
    rules = list(rules)
    wanted = {kind for rule in (rules if readers is None else readers) for kind in rule.reads}
    limits: dict[Handler, frozenset[str]] = {}  # call handler -> the callee names it is limited to
    for fact_pass in passes:
        for node_type, kind, handler in fact_pass.handlers:
            if kind in wanted:
                for concrete in _concrete_types(node_type):
                    table.setdefault(concrete, []).append((fact_pass, handler))
    for rule in rules:
        limits.update(getattr(rule, "callees", None) or {})
        for node_type, handler in rule.handlers:
            for concrete in _concrete_types(node_type):
                table.setdefault(concrete, []).append((rule, handler))
    return table.index_calls(limits)


class Dispatcher:
    """Picks the dispatch table for one file: rules whose hint words the file lacks are left out, so a module
    that never mentions an ORM does not pay for the ORM rules, nor for the project index only they read; on a
    test module, so are the rules and fact passes that never report or record there (`skip_tests`). Tables
    are built once per combination. `facts=False` leaves the fact passes out (an editor's buffer, whose project
    checks never run)."""

    def __init__(self, rules: Iterable[Rule], facts: bool = True) -> None:
        self.passes = fact_passes() if facts else []
        rules = [r for r in rules if r.handlers or (r.reads and self.passes)]
        self.always = [r for r in rules if not r.hints and not r.requires]
        self.hinted = [r for r in rules if r.hints or r.requires]
        self.tables: dict[tuple[bool, tuple[str, ...]], DispatchTable] = {}

    def table_for(self, text: str, test_module: bool = False) -> DispatchTable:
        active = tuple(r.id for r in self.hinted if r.may_apply(text))
        table = self.tables.get((test_module, active))
        if table is None:
            chosen = set(active)
            readers = self.always + [r for r in self.hinted if r.id in chosen]
            rules, passes = readers, self.passes
            if test_module:
                # A rule left out here still reads this file's facts in its project check: the fact passes
                # record what every rule that may apply reads.
                rules = [r for r in rules if not r.skip_tests]
                passes = [p for p in passes if not p.skip_tests]
            table = build_dispatch(rules, passes, readers)
            self.tables[(test_module, active)] = table
        return table


def _concrete_types(node_type: type) -> list[type]:
    """`ast.expr` registers for every expression class: the dispatch is keyed by exact type for speed."""
    found = [node_type]
    stack = [node_type]
    while stack:
        for sub in stack.pop().__subclasses__():
            found.append(sub)
            stack.append(sub)
    return found


def analyse_source(path: str, data: bytes, dispatcher: Dispatcher, module_name: str = "") -> FileResult:
    """Decode, parse once, run every enabled check in one walk. Never raises."""
    try:
        return _analyse(path, data, dispatcher, module_name)
    except Exception as exc:  # a gapcheck bug outside any one check: this file is lost, the scan is not
        result = FileResult(path=path, module=module_name, analysed=False)
        result.notifications.append(Notification(path, "check-error", f"not analysed: gapcheck failed on this file: "
                                                 f"{type(exc).__name__}: {exc}"))
        return result


def _analyse(path: str, data: bytes, dispatcher: Dispatcher, module_name: str) -> FileResult:
    result = FileResult(path=path, module=module_name)
    if len(data) > MAX_FILE_BYTES:
        result.analysed = False
        result.notifications.append(
            Notification(path, "too-large", f"not analysed: {len(data):,} bytes is above the {MAX_FILE_BYTES:,} limit")
        )
        return result
    try:
        source = decode(data)
        result.lines = len(source.lines)
        tree = parse(source, path)
    except SourceError as exc:
        result.analysed = False
        result.notifications.append(Notification(path, exc.kind, exc.message))
        return result
    result.suppressions = suppressions.collect(source.text)
    try:
        nodes = walk_with_parents(tree)
        ctx = ModuleContext(path, tree, source.lines, source.text, module_name, nodes)
    except (RecursionError, MemoryError):
        result.analysed = False
        result.notifications.append(Notification(path, "too-complex", "too deeply nested to analyse"))
        return result
    failed: set[str] = set()
    findings: list[Finding] = []
    table = dispatcher.table_for(source.text, is_test_path(path))
    get = table.get
    # Calls are dispatched by their callee's last name when some call handlers are limited to a few names: most
    # calls then meet only the handlers that take every call. A name an import binds under another name gets all.
    by_callee: dict = getattr(table, "by_callee", None) or {}
    if by_callee:
        by_name, any_callee, every = by_callee.get, table.any_callee, table.get(ast.Call)
        aliased = ctx.aliased_names()
        call_class, attribute_class, name_class = ast.Call, ast.Attribute, ast.Name
    else:
        call_class = None
    for node in nodes:
        cls = node.__class__
        if cls is call_class:
            func = node.func  # type: ignore[attr-defined]
            func_class = func.__class__
            if func_class is attribute_class:
                handlers = by_name(func.attr, any_callee)
            elif func_class is name_class:
                handlers = every if func.id in aliased else by_name(func.id, any_callee)
            else:
                handlers = any_callee
        else:
            handlers = get(cls)
        if not handlers:
            continue
        for rule, handler in handlers:
            if failed and rule.id in failed:  # nearly always empty: the attribute is not read per call
                continue
            try:
                produced = handler(node, ctx)
                if produced:
                    findings.extend(produced)
            except (RecursionError, MemoryError):
                failed.add(rule.id)
                result.notifications.append(
                    Notification(path, "check-error", f"{rule.id} skipped this file: code too deeply nested", "warning")
                )
            except Exception as exc:  # a bug in one check must not lose the other checks' findings
                failed.add(rule.id)
                result.notifications.append(
                    Notification(path, "check-error", f"{rule.id} failed on this file: {type(exc).__name__}: {exc}",
                                 "warning")
                )
    result.findings = dedupe_and_sort(findings)
    result.facts = ctx.facts
    unlink(nodes)  # the tree is not used past this point: let reference counting free it, not the collector
    return result


_WORKER_DISPATCHER: list[Dispatcher] = []  # one per worker process, set by its initializer


def _worker_init(rule_ids: Sequence[str]) -> None:
    wanted = set(rule_ids)
    _WORKER_DISPATCHER[:] = [Dispatcher(r for r in load_rules() if r.id in wanted)]
    # The modules, rules and tables loaded so far live as long as the worker: out of the collector's way. Each
    # file's tree is a cycle (parent links) that only the collector frees, so collections stay on, less often:
    # 3% fewer instructions on django/db, about 60 MiB more per worker at peak.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _worker_run(job: tuple[str, bytes, str]) -> FileResult:
    path, data, module_name = job
    return analyse_source(path, data, _WORKER_DISPATCHER[0], module_name)


# ---- the scan ------------------------------------------------------------------------------------------------
def enabled_rules(settings: Settings) -> list[Rule]:
    rules = load_rules()
    selected: dict[str, Rule] = {}
    for selector in settings.select:
        for rule in resolve_selector(selector):
            selected[rule.id] = rule
    for selector in settings.ignore:
        for rule in resolve_selector(selector):
            selected.pop(rule.id, None)
    return [r for r in rules if r.id in selected] + _custom_rules(settings)


def _custom_rules(settings: Settings) -> list[Rule]:
    """The project's own Semgrep rules, selected like the shipped ones by ALL, their id or their category."""
    if settings.custom_rules is None:
        from .custom_rules import load

        settings.custom_rules = load(settings.semgrep_rule_paths) if settings.semgrep_rule_paths else []

    def named(rule: Rule, selectors: list[str]) -> bool:
        return any(s.strip().upper() == "ALL" or s.strip() == rule.id or s.strip().lower() == rule.category
                   for s in selectors)

    return [r for r in settings.custom_rules if named(r, settings.select) and not named(r, settings.ignore)]


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


class _PythonRun:
    """The Python pass over the files the cache did not have. With a process pool, every file is handed to the
    workers as soon as the run is made, so they analyse while this process prepares Semgrep (about 1 s on Django
    with its tests, when one core used to idle); `results` waits for them. Without one, `results` analyses here."""

    def __init__(self, settings: Settings, python_rules: list[Rule], jobs: list[tuple[str, bytes, str]]) -> None:
        self.rules, self.jobs = python_rules, jobs
        self.context = None
        self.pool: ProcessPoolExecutor | None = None
        self.pending: "Iterable[FileResult] | None" = None
        self.done: dict[str, FileResult] = {}
        if settings.jobs > 1 and len(jobs) >= POOL_THRESHOLD:
            self.context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                                       else None)
            try:
                self.pool = ProcessPoolExecutor(max_workers=settings.jobs, mp_context=self.context,
                                                initializer=_worker_init, initargs=([r.id for r in python_rules],))
                chunk = max(1, min(64, len(jobs) // (settings.jobs * 8) or 1))
                # Largest files first: the chunks handed out last are the cheapest, so no process is left with
                # a heavy chunk while the others idle (in path order, on Django with its tests, one process
                # finished about 1% after the other). The results are put back in path order below.
                by_size = sorted(jobs, key=lambda job: len(job[1]), reverse=True)
                self.pending = self.pool.map(_worker_run, by_size, chunksize=chunk)
            except BrokenProcessPool:
                self.pending = None  # `results` falls back to one process per file

    def results(self) -> list[FileResult]:
        if self.context is None:
            dispatcher = Dispatcher(self.rules)
            return [analyse_source(path, data, dispatcher, module) for path, data, module in self.jobs]
        try:
            if self.pending is None:
                raise BrokenProcessPool("the process pool did not start")
            for file_result in self.pending:
                self.done[file_result.path] = file_result
            self.close()
            return [self.done[path] for path, _, _ in self.jobs]
        except BrokenProcessPool:
            # A worker died (killed, out of memory, a crash in C code): the files it did not finish are analysed
            # here one by one, each in a process of its own, so the one that kills its process is named.
            self.close()
            return [self.done.get(job[0]) or _run_isolated(self.context, self.rules, job) for job in self.jobs]

    def close(self) -> None:
        """Stop the pool (idempotent); after an interrupt the workers drop the files they have not started."""
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_isolated(context, python_rules: list[Rule], job: tuple[str, bytes, str]) -> FileResult:
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_worker_init,
                                 initargs=([r.id for r in python_rules],)) as pool:
            return pool.submit(_worker_run, job).result()
    except BrokenProcessPool:
        result = FileResult(path=job[0], module=job[2], analysed=False)
        result.notifications.append(Notification(job[0], "too-complex", "not analysed: the analysis process died "
                                                 "on this file (out of memory or too deeply nested)"))
        return result


def scan(settings: Settings) -> ScanResult:
    """discover -> read -> reuse cached results -> start the Python pass -> start Semgrep -> collect the Python
    pass -> project join -> collect Semgrep -> merge, filter and fingerprint. Each stage below is a function of its
    own, in that order."""
    running: list[semgrep.SemgrepRun] = []
    try:
        return _scan(settings, running)
    finally:  # an interrupt (Ctrl-C) or a crash must not leave Semgrep running in its own process group
        for semgrep_run in running:
            semgrep_run.stop()


@dataclass
class _Scan:
    """What the stages of one scan hand each other."""

    settings: Settings
    rules: list[Rule]
    files: list[SourceFile]
    notifications: list[Notification]
    cache: Cache | None
    engine_key: str
    contents: dict[str, bytes] = field(default_factory=dict)  # path -> bytes, for every file that could be read
    keys: dict[str, str] = field(default_factory=dict)  # path -> content hash under this engine (the cache key)
    results: dict[str, FileResult] = field(default_factory=dict)  # the Python pass, fresh or from the cache
    misses: list[SourceFile] = field(default_factory=list)  # files the Python pass must analyse
    semgrep_findings: dict[str, list[Finding]] = field(default_factory=dict)
    # path -> its key in the Semgrep cache when some rule's own `paths` leave it out (else its content key)
    semgrep_keys: dict[str, str] = field(default_factory=dict)
    semgrep_run: semgrep.SemgrepRun | None = None
    python_run: _PythonRun | None = None  # the Python pass, from its start to its results
    semgrep_failed: bool = False
    project_findings: dict[str, list[Finding]] = field(default_factory=dict)
    texts: dict[str, Source] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    tests_skipped: int = 0

    def lines(self, path: str) -> list[str]:
        if path not in self.texts:
            self.texts[path] = read_anyway(self.contents[path])
        return self.texts[path].lines


def _scan(settings: Settings, running: list[semgrep.SemgrepRun]) -> ScanResult:
    started = time.perf_counter()
    state = _discover(settings)
    # The pool's workers start on the cache misses before Semgrep is prepared, and both run while the Python
    # pass is collected; "python" is timed from the workers' start, so it includes "semgrep-start" when a pool runs.
    stages = [("read", _read_files), ("cache", _reuse_cached), ("python-start", _start_python),
              ("semgrep-start", _start_semgrep), ("python", _analyse_misses), ("project", _join_project),
              ("semgrep", _collect_semgrep)]
    try:
        for name, stage in stages:
            if name == "project":
                # Every file's results now live until the scan ends: hundreds of thousands of small objects
                # that each cyclic collection would walk again. Freezing them made the join on Django with its
                # tests 30x cheaper (0.6 s of collections -> 0.02 s); they are unfrozen when the scan is done, so
                # a long-running editor server still frees them.
                gc.freeze()
            t0 = time.perf_counter()
            stage(state)
            if state.semgrep_run is not None and state.semgrep_run not in running:
                running.append(state.semgrep_run)
            state.timings[name] = time.perf_counter() - t0
        state.timings["python"] += state.timings.pop("python-start")
        findings, suppressed = _merge_and_filter(state)
    finally:
        if state.python_run is not None:
            state.python_run.close()
        gc.unfreeze()
    if state.cache and state.settings.prune_cache and not state.semgrep_failed:
        state.cache.prune()
    state.timings["total"] = time.perf_counter() - started
    return ScanResult(
        findings=findings,
        notifications=sorted(set(state.notifications)),
        suppressed=suppressed,
        files=len(state.files),
        files_analysed=sum(1 for r in state.results.values() if r.analysed),
        lines=sum(r.lines for r in state.results.values()),
        rules=state.rules,
        semgrep_ran=state.semgrep_run is not None or bool(state.semgrep_findings),
        semgrep_failed=state.semgrep_failed,
        timings=state.timings,
        tests_skipped=state.tests_skipped,
    )


def _discover(settings: Settings) -> _Scan:
    """The enabled rules, the files to scan and the engine's cache key (version, code, rules)."""
    t0 = time.perf_counter()
    rules = enabled_rules(settings)
    left_out = [0]
    files, notifications = discover(settings, left_out)
    tests_skipped = left_out[0]
    if not settings.include_tests:
        kept = [f for f in files if not (is_test_path(f.path) or f.rule_test)]
        tests_skipped, files = tests_skipped + len(files) - len(kept), kept
    for module, error in sorted(load_errors().items()):
        notifications.append(Notification("", "check-error", f"check module {module} failed to load, its rules did "
                                          f"not run: {error}"))
    custom = [r for r in rules if r.source_file is not None]
    if custom:
        from .custom_rules import digest

        custom_digest = digest(custom)
    else:
        custom_digest = ""
    engine_key = hashlib.blake2b(
        "\0".join([__version__, code_digest(), semgrep.rules_digest(), custom_digest, *(r.id for r in rules)]).encode(),
        digest_size=16,
    ).hexdigest()
    state = _Scan(settings, rules, files, notifications, Cache(settings.cache_dir) if settings.cache else None,
                  engine_key)
    state.tests_skipped = tests_skipped
    state.timings["discover"] = time.perf_counter() - t0
    return state


def _read_files(state: _Scan) -> None:
    """Every file read once: its bytes feed the content hash, the cache key, the hints and both analyses."""
    key = state.engine_key.encode()[:64]
    for source_file in state.files:
        try:
            data = _read(source_file.abs_path)
        except OSError as exc:
            state.notifications.append(Notification(source_file.path, "read-error",
                                                    f"cannot read: {exc.strerror or exc}"))
            continue
        state.contents[source_file.path] = data
        state.keys[source_file.path] = hashlib.blake2b(data, digest_size=20, key=key).hexdigest()


def _reuse_cached(state: _Scan) -> None:
    """Python-pass results cached under the same content and engine are reused; the rest are misses."""
    for source_file in state.files:
        if source_file.path not in state.contents:
            continue
        cached = state.cache.get("py", state.keys[source_file.path]) if state.cache else None
        if cached is not None:
            try:
                state.results[source_file.path] = FileResult.from_cache(source_file.path, cached)
                continue
            except (KeyError, TypeError, ValueError):
                pass
        state.misses.append(source_file)


def _start_semgrep(state: _Scan) -> None:
    """Semgrep starts first and runs while the Python pass works: each rule on the uncached files its hints
    admit, all in one invocation."""
    semgrep_rules = [r for r in state.rules if r.semgrep]
    if not (state.settings.semgrep and semgrep_rules):
        return
    targets: dict[str, list[str]] = {}
    # A rule whose own `paths` leave a file out (most security rules skip tests) is not hint-tested on it. The
    # cached results of a file are then those of the other rules only: they are keyed by its bytes and by the
    # rules left out, so a copy of the file where every rule applies never reuses them.
    excluded_for = semgrep.path_exclusions(semgrep_rules)
    for source_file in state.files:
        data = state.contents.get(source_file.path)
        if data is None:
            continue
        excluded = excluded_for(source_file.path)
        key = state.keys[source_file.path]
        if excluded:
            key = hashlib.blake2b(f"{key}\0{','.join(sorted(excluded))}".encode(), digest_size=20).hexdigest()
            state.semgrep_keys[source_file.path] = key
        cached = state.cache.get("sg", key) if state.cache else None
        if cached is not None:  # Semgrep's results for these bytes, or [] when no rule can match them
            state.semgrep_findings[source_file.path] = [replace(Finding.from_dict(f), path=source_file.path)
                                                        for f in cached]
            continue
        applicable = semgrep.rules_for(data, [r for r in semgrep_rules if r.id not in excluded] if excluded
                                       else semgrep_rules)
        if not applicable:
            if state.cache:  # the hint test is not repeated for this content: a warm scan skips it
                state.cache.put("sg", key, [])
            continue
        for rule in applicable:
            targets.setdefault(rule.id, []).append(source_file.path)
    if targets:
        state.semgrep_run = semgrep.start(targets, semgrep_rules, jobs=1, cwd=str(state.settings.cwd),
                                          timeout=state.settings.semgrep_timeout, max_target_bytes=MAX_FILE_BYTES)


def _start_python(state: _Scan) -> None:
    """The workers start on the cache misses (with a pool; otherwise the pass runs in `_analyse_misses`)."""
    jobs = [(f.path, state.contents[f.path], f.module_name) for f in state.misses]
    if jobs:
        state.python_run = _PythonRun(state.settings, [r for r in state.rules if r.is_python or r.reads], jobs)


def _analyse_misses(state: _Scan) -> None:
    if state.python_run is None:
        return
    for file_result in state.python_run.results():
        state.results[file_result.path] = file_result
        if state.cache and not any(n.kind == "check-error" for n in file_result.notifications):
            state.cache.put("py", state.keys[file_result.path], file_result.to_cache())


def _join_project(state: _Scan) -> None:
    """The project checks over every file's facts. Their findings are cached under the contents of every analysed
    file, so a scan where nothing changed does not join again."""
    python_rules = [r for r in state.rules if r.is_python and r.project_handlers]
    if not python_rules:
        return
    digest = hashlib.blake2b(state.engine_key.encode(), digest_size=20)
    for path in sorted(state.results):
        if state.results[path].analysed:
            digest.update(f"{path}\0{state.keys[path]}\0".encode())
    key = digest.hexdigest()
    cached = state.cache.get("pj", key) if state.cache else None
    if isinstance(cached, dict):
        try:
            state.project_findings = {path: [Finding.from_dict(f) for f in found] for path, found in cached.items()}
            return
        except (KeyError, TypeError, ValueError):
            pass
    errors = len(state.notifications)
    state.project_findings = run_project_checks(python_rules, state.results, state.notifications)
    if state.cache and len(state.notifications) == errors:  # a failed project check is not cached
        state.cache.put("pj", key, {path: [f.to_dict() for f in found]
                                    for path, found in state.project_findings.items()})


def _collect_semgrep(state: _Scan) -> None:
    """Wait for Semgrep; its results are checked against the files (positions, strays) and cached per file."""
    if state.semgrep_run is None:
        return
    outcome = state.semgrep_run.wait()
    state.notifications.extend(outcome.notifications)
    state.semgrep_failed = outcome.failed
    for path, found in outcome.findings.items():
        state.lines(path)
        kept, past_end = _within_file(found, state.texts[path])
        state.semgrep_findings[path] = kept
        if past_end:
            state.semgrep_failed = True
            outcome.file_errors.add(path)
            state.notifications.append(Notification(path, "semgrep-error", f"semgrep reported {past_end} result(s) "
                                                    f"past the end of this file ({len(state.lines(path))} lines); "
                                                    "dropped", "warning"))
    # A file Semgrep could not (fully) scan loses findings silently unless that fails the scan; a file the
    # Python pass could not analyse either is already reported as such (exit 3) and the Semgrep notice joins it.
    if any(path in state.results and state.results[path].analysed for path in outcome.file_errors):
        state.semgrep_failed = True
    if state.cache and not outcome.failed:  # a run that failed as a whole proves nothing; one file's error, its file
        for path in set(outcome.scanned) - outcome.file_errors:
            state.cache.put("sg", state.semgrep_keys.get(path) or state.keys[path],
                            [f.to_dict() for f in state.semgrep_findings.get(path, [])])


def _merge_and_filter(state: _Scan) -> tuple[list[Finding], int]:
    """Both sources merged per file, then the same suppressions, per-file ignores, severity overrides and
    fingerprints for all; returns the findings and how many were suppressed."""
    settings = state.settings
    enabled_ids = {r.id for r in state.rules}
    final: list[Finding] = []
    suppressed = 0
    for source_file in state.files:
        file_result = state.results.get(source_file.path)
        if file_result is None:
            continue
        state.notifications.extend(file_result.notifications)
        semgrep_found = state.semgrep_findings.get(source_file.path, [])
        if semgrep_found and any(kind == SCRIPT_FACT for kind, _ in file_result.facts):
            semgrep_found = [f for f in semgrep_found if not _skips_scripts(f.rule_id)]  # a program run by hand
        candidates = file_result.findings + semgrep_found + state.project_findings.get(source_file.path, [])
        kept, dropped = keep_findings(settings, enabled_ids, source_file.path, candidates, file_result.suppressions,
                                      lambda path=source_file.path: state.lines(path))
        final.extend(kept)
        suppressed += dropped
    return sorted(final), suppressed


def keep_findings(settings: Settings, enabled_ids: "set[str] | frozenset[str]", path: str,
                  candidates: Iterable[Finding], suppressed_lines: suppressions.Suppressions,
                  lines: "Callable[[], list[str]]") -> tuple[list[Finding], int]:
    """One file's last step, for a scan and for an editor's buffer alike: drop disabled, per-file-ignored and
    suppressed findings, apply the severity overrides, fingerprint the rest (`lines` is asked only then).
    Returns the kept findings and how many a suppression comment dropped."""
    ignored_here = settings.ignored_for(path)
    tooling = is_tooling_path(path) or (is_script_name(path) and any(
        MAIN_GUARD.match(line) for line in lines()))  # (asked of a hyphenated name only: `upload-screenshots.py`)
    kept: list[Finding] = []
    suppressed = 0
    for finding in dedupe_and_sort(candidates):
        if finding.rule_id not in enabled_ids or finding.rule_id in ignored_here:
            continue
        if tooling and _skips_tooling(finding.rule_id):
            continue  # a developer or operator script: no server or worker runs it
        if suppressions.is_suppressed(suppressed_lines, finding.line, finding.rule_id):
            suppressed += 1
            continue
        severity = settings.severity.get(finding.rule_id, finding.severity)
        kept.append(replace(finding, severity=severity) if severity != finding.severity else finding)
    return (with_fingerprints(kept, lines()) if kept else []), suppressed


@functools.lru_cache(maxsize=None)
def _skips_scripts(rule_id: str) -> bool:
    rule = get_rule(rule_id)
    return rule is not None and rule.skip_scripts


@functools.lru_cache(maxsize=None)
def _skips_tooling(rule_id: str) -> bool:
    rule = get_rule(rule_id)
    return rule is not None and rule.skips_tooling


def python_rescan(settings: Settings) -> "Callable[[str, bytes], list[Finding]]":
    """A function giving the enabled Python checks' findings for one file's new content, suppressions and
    per-file ignores applied as in a scan: what `--fix` uses to find what its own fixes uncovered (`except:` made
    `except Exception:` can be a handler that now logs without the traceback). Semgrep and project checks do not
    run here; the report after fixing is a full scan."""
    rules = [r for r in enabled_rules(settings) if r.handlers]
    dispatcher = Dispatcher(rules)
    enabled_ids = {r.id for r in rules}

    def rescan(path: str, data: bytes) -> list[Finding]:
        file_result = analyse_source(path, data, dispatcher)
        ignored = settings.ignored_for(path)
        return [f for f in file_result.findings if f.rule_id in enabled_ids and f.rule_id not in ignored
                and not suppressions.is_suppressed(file_result.suppressions, f.line, f.rule_id)]

    return rescan


def _within_file(found: list[Finding], source: Source) -> tuple[list[Finding], int]:
    """Semgrep results that point into the file, their columns turned from bytes (Semgrep's) into characters
    (SARIF's `unicodeCodePoints`, and the Python checks'); the count of those past its end (Semgrep's numbering of
    lines can differ, e.g. with lone CR line ends), which cannot be shown or fingerprinted."""
    last = max(1, len(source.lines))
    kept = []
    for finding in found:
        if finding.line > last:
            continue
        end_line = min(finding.end_line, last)
        kept.append(replace(finding, column=char_column(source, finding.line, finding.column), end_line=end_line,
                            end_column=char_column(source, end_line, finding.end_column)))
    return kept, len(found) - len(kept)


def run_project_checks(rules: list[Rule], results: dict[str, FileResult],
                       notifications: list[Notification]) -> dict[str, list[Finding]]:
    """Join the facts of every analysed file and run the project checks once; a failing one becomes a notice."""
    project_rules = [r for r in rules if r.project_handlers]
    if not project_rules:
        return {}
    index = ProjectIndex((r.path, r.module, r.facts) for r in results.values() if r.analysed)
    found: dict[str, list[Finding]] = {}
    for rule in project_rules:
        for handler in rule.project_handlers:
            try:
                for finding in handler(index) or ():
                    if finding.path in results:
                        found.setdefault(finding.path, []).append(finding)
            except Exception as exc:  # one project check failing must not lose the rest of the scan
                # An error, not a warning: a crashed project check looks exactly like "no findings" otherwise.
                notifications.append(Notification("", "check-error", f"{rule.id} project check failed, its "
                                                  f"findings are missing: {type(exc).__name__}: {exc}", "error"))
    return found


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
