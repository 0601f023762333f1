"""The project index: facts every file recorded during its single pass, joined once per scan.

Cross-file rules (an N+1 through a helper in another module, a Django model's relations used in a view elsewhere)
work on summaries, not trees: each file records small JSON-able facts while it is walked (cached with its
findings, so an unchanged file costs nothing), and a project check joins them after the pass. No file is parsed
twice and the join is linear in the number of facts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from .findings import Finding

if TYPE_CHECKING:
    from .registry import Rule


class ProjectIndex:
    def __init__(self, facts_by_file: Iterable[tuple[str, str, list[tuple[str, object]]]]) -> None:
        """`facts_by_file`: (path, module name, [(kind, data), ...]) for every analysed file."""
        self._by_kind: dict[str, list[tuple[str, object]]] = {}
        self.modules: dict[str, str] = {}
        self._paths: dict[str, list[str]] = {}
        for path, module, facts in sorted(facts_by_file, key=lambda item: item[0]):
            self.modules[path] = module
            self._paths.setdefault(module, []).append(path)
            for kind, data in facts:
                self._by_kind.setdefault(kind, []).append((path, data))

    def facts(self, kind: str) -> list[tuple[str, object]]:
        """(path, data) for every fact of this kind, in path order then recording order."""
        return self._by_kind.get(kind, [])

    def path_of_module(self, module: str, near: str | None = None) -> str | None:
        """The file of a dotted module name. Files outside packages get bare names (`models`), so two folders
        may both hold `models`: then the one nearest to `near` (the importing file) wins, by shared folders."""
        paths = self._paths.get(module)
        if not paths:
            return None
        if len(paths) == 1 or near is None:
            return paths[0]
        near_parts = near.split("/")[:-1]

        def shared(path: str) -> int:
            count = 0
            for a, b in zip(path.split("/")[:-1], near_parts):
                if a != b:
                    break
                count += 1
            return count

        return max(paths, key=lambda p: (shared(p), -len(p), p))

    @staticmethod
    def finding(rule: "Rule", path: str, line: int, column: int, end_line: int, end_column: int,
                message: str) -> Finding:
        return Finding(path=path, line=line, column=column, end_line=end_line, end_column=end_column,
                       rule_id=rule.id, message=message, severity=rule.severity)
