"""Where does the Python pass spend its time? Per-rule handler cost on a corpus, single process.

    python bench/profile_rules.py PATH [--limit N] [--hints]

Prints the parse+walk cost with no rules, the total with every rule (hint words ignored, so each rule's raw cost
shows; with --hints, as a scan dispatches them: only on files holding their hint words), and each rule's own
handler time, most expensive first. A rule that costs more than the parse on files
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
from gapcheck.analyzer.registry import load_rules


# Handlers whose whole job is recording project-index facts (function summaries, models): their time is the
# index's per-file cost. Facts recorded on the side by finding handlers are not separated out.
INDEX_HANDLERS = frozenset({"summarise", "record_models", "models"})


class _Hinted:
    """A dispatcher that keeps the hint words, as a scan does: what a rule costs where it actually runs."""

    def __init__(self, rules, timed: dict) -> None:
        self.rules, self.timed, self.tables = rules, timed, {}

    def table_for(self, text: str) -> engine.DispatchTable:
        active = tuple(r.id for r in self.rules if r.id in self.timed and r.may_apply(text))
        if active not in self.tables:
            table: engine.DispatchTable = {}
            for rule in self.rules:
                if rule.id in active:
                    for concrete, handler in self.timed[rule.id]:
                        table.setdefault(concrete, []).append((rule, handler))
            self.tables[active] = table
        return self.tables[active]


class _AllRules:
    """A dispatcher that ignores hint words, so every rule is measured on every file."""

    def __init__(self, table: engine.DispatchTable) -> None:
        self.table = table

    def table_for(self, text: str) -> engine.DispatchTable:
        return self.table


def _timed(rule, handler, cost: collections.Counter, index_cost: collections.Counter):
    def run(node: ast.AST, ctx):
        facts_before = len(ctx.facts)
        started = time.perf_counter()
        try:
            produced = handler(node, ctx)
            return list(produced) if produced is not None else None
        finally:
            spent = time.perf_counter() - started
            cost[rule.id] += spent
            if produced is None and len(ctx.facts) > facts_before or handler.__name__ in INDEX_HANDLERS:
                index_cost[f"{rule.id}.{handler.__name__}"] += spent

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
    for rule in rules:
        for node_type, handler in rule.handlers:
            wrapped = _timed(rule, handler, cost, index_cost)
            for concrete in engine._concrete_types(node_type):
                table.setdefault(concrete, []).append((rule, wrapped))
                timed.setdefault(rule.id, []).append((concrete, wrapped))
    dispatcher = _Hinted(rules, timed) if args.hints else _AllRules(table)

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
    print(f"project index: {facts:,} facts; recording handlers {recording:.2f} s"
          f" ({recording / bare * 100:.1f}% of the parse), project join {join * 1000:.0f} ms")
    for name, seconds in index_cost.most_common():
        print(f"  {name:32} {seconds:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
