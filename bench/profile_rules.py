"""Where does the Python pass spend its time? Per-rule handler cost on a corpus, single process.

    python bench/profile_rules.py PATH [--limit N] [--hints]

Prints the parse+walk cost with no rules, the total with every rule (hint words ignored, so each rule's raw cost
shows; with --hints, as a scan dispatches them: only on files holding their hint words), and each rule's own
handler time, most expensive first. The project index is a fact pass, not a rule: its handlers are timed under
its own name (`project-index`), per kind of fact. A rule that costs more than the parse on files
that cannot match it should declare hint words (`Rule(hints=...)`) or exit earlier.
"""
from __future__ import annotations

import argparse
import ast
import collections
import os
import sys
import time

from gapcheck.analyzer import discovery, engine
from gapcheck.analyzer.registry import fact_passes, load_rules


class _Hinted:
    """A dispatcher that keeps the hint words (and leaves `skip_tests` rules and passes out of test modules), as a
    scan does: what a rule costs where it actually runs."""

    def __init__(self, rules, timed: dict, passes: list, callees: dict) -> None:
        self.rules, self.timed, self.passes, self.tables, self.callees = rules, timed, passes, {}, callees

    def table_for(self, text: str, test_module: bool = False) -> engine.DispatchTable:
        active = tuple(r.id for r in self.rules if (r.id in self.timed or r.reads) and r.may_apply(text))
        if (test_module, active) not in self.tables:
            table: engine.DispatchTable = {}
            wanted = {kind for rule in self.rules if rule.id in active for kind in rule.reads}
            for fact_pass, kind, concrete, handler in self.passes:
                if kind in wanted and not (test_module and fact_pass.skip_tests):
                    table.setdefault(concrete, []).append((fact_pass, handler))
            for rule in self.rules:
                if rule.id in active and not (test_module and rule.skip_tests):
                    for concrete, handler in self.timed.get(rule.id, ()):
                        table.setdefault(concrete, []).append((rule, handler))
            self.tables[(test_module, active)] = _with_callees(table, self.callees)
        return self.tables[(test_module, active)]


def _with_callees(table: dict, callees: dict) -> engine.DispatchTable:
    """The scan's dispatch by callee name (`Rule.on(ast.Call, callees=...)`) for a table of timed handlers:
    `callees` maps each timed wrapper to the names its handler was registered for."""
    return engine.DispatchTable(table).index_calls(callees)


class _AllRules:
    """A dispatcher that ignores hint words, so every rule is measured on every file."""

    def __init__(self, table: engine.DispatchTable) -> None:
        self.table = table  # as the scan would dispatch it: calls by callee name where a handler is limited

    def table_for(self, text: str, test_module: bool = False) -> engine.DispatchTable:
        return self.table


def _timed(key: str, handler, cost: collections.Counter):
    def run(node: ast.AST, ctx):
        started = time.perf_counter()
        try:
            produced = handler(node, ctx)
            return list(produced) if produced is not None else None
        finally:
            cost[key] += time.perf_counter() - started

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--limit", type=int, default=0, help="only the first N files (sorted)")
    parser.add_argument("--hints", action="store_true", help="dispatch rules only where their hint words are")
    args = parser.parse_args()
    files = sorted(os.path.join(d, f) for d, _, names in os.walk(args.path) for f in names if f.endswith(".py"))
    if args.limit:
        files = files[: args.limit]
    blobs = [open(f, "rb").read() for f in files]
    cost: collections.Counter = collections.Counter()
    index_cost: collections.Counter = collections.Counter()
    rules = load_rules()
    table: engine.DispatchTable = {}
    timed: dict[str, list] = {}
    passes: list = []
    for fact_pass in fact_passes():
        for node_type, kind, handler in fact_pass.handlers:
            wrapped = _timed(f"{fact_pass.name} {kind}", handler, index_cost)
            for concrete in engine._concrete_types(node_type):
                table.setdefault(concrete, []).append((fact_pass, wrapped))
                passes.append((fact_pass, kind, concrete, wrapped))
    callees: dict = {}  # timed wrapper -> the callee names its handler is limited to
    for rule in rules:
        for node_type, handler in rule.handlers:
            wrapped = _timed(rule.id, handler, cost)
            if node_type is ast.Call and handler in rule.callees:
                callees[wrapped] = rule.callees[handler]
            for concrete in engine._concrete_types(node_type):
                table.setdefault(concrete, []).append((rule, wrapped))
                timed.setdefault(rule.id, []).append((concrete, wrapped))
    dispatcher = _Hinted(rules, timed, passes, callees) if args.hints else _AllRules(_with_callees(table, callees))

    started = time.perf_counter()
    for path, data in zip(files, blobs):
        engine.analyse_source(path, data, _AllRules({}), "")
    bare = time.perf_counter() - started
    started = time.perf_counter()
    lines = 0
    results = {}
    modules = discovery._Modules()  # the scan's own module naming, so cross-file facts join
    for path, data in zip(files, blobs):
        results[path] = engine.analyse_source(path, data, dispatcher, modules.module_of(os.path.abspath(path)))
        lines += results[path].lines
    full = time.perf_counter() - started
    started = time.perf_counter()
    engine.run_project_checks(rules, results, [])
    join = time.perf_counter() - started
    facts = sum(len(r.facts) for r in results.values())
    print(f"{len(files)} files, {lines:,} lines")
    print(f"parse+walk, no rules: {bare:6.2f} s  ({lines / bare:,.0f} lines/s)")
    print(f"all rules, {'with' if args.hints else 'no'} hints:{' ' if args.hints else '  '}{full:6.2f} s  "
          f"({lines / full:,.0f} lines/s)")
    for rule_id, seconds in cost.most_common():
        print(f"  {rule_id}  {seconds:6.2f} s  ({seconds / bare * 100:5.1f}% of the parse)")
    recording = sum(index_cost.values())
    print(f"project index: {facts:,} facts in all; the index pass {recording:.2f} s"
          f" ({recording / bare * 100:.1f}% of the parse), project join {join * 1000:.0f} ms")
    for name, seconds in index_cost.most_common():
        print(f"  {name:32} {seconds:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
