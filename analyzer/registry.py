"""Rule metadata: the one place that knows each rule's id, name, category, severity and docs.

Python checks register a handler on a `Rule` with `@RULE.on(ast.Call)` (for calls, optionally limited to the callee
names it can report on: `@RULE.on(ast.Call, callees=(...))`); Semgrep rules are declared here with
`semgrep=True` and their YAML in `semgrep-rules/<name>.yaml` carries the same id, category and severity (a test
keeps the two in agreement). The CLI (`rules`, `explain`), the SARIF writer and the docs all read this table.
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

if TYPE_CHECKING:
    from .findings import Finding
    from .model import ModuleContext
    from .project import ProjectIndex

CATEGORIES: tuple[str, ...] = (
    "in-memory-state",
    "unbounded-query",
    "n-plus-one",
    "timeout-retry",
    "broad-except",
    "no-logging",
    "sql-building",
    "security",
    "async-concurrency",
)
# Rule id blocks: GAP1xx in-memory-state ... GAP7xx sql-building, GAP8xx security, GAP9xx async and concurrency.
CATEGORY_BLOCK: dict[str, int] = {slug: i + 1 for i, slug in enumerate(CATEGORIES)}

SEVERITIES: tuple[str, ...] = ("note", "warning", "error")
PRECISIONS: tuple[str, ...] = ("high", "medium")
RULE_ID = re.compile(r"^GAP[1-9]\d\d$")
RULE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

Handler = Callable[[ast.AST, "ModuleContext"], "Iterable[Finding] | None"]
ProjectHandler = Callable[["ProjectIndex"], "Iterable[Finding] | None"]


# The fact a fact pass records for a `__main__` program that serves nothing (`checks.scopes.note_script`): the
# engine drops the findings of `skip_scripts` Semgrep rules in such files.
SCRIPT_FACT = "script-module"

# Categories whose rules are about a running service or worker: a repository's tooling is left out of them.
SERVICE_CATEGORIES = frozenset({"in-memory-state", "unbounded-query", "n-plus-one", "timeout-retry", "no-logging",
                                "sql-building", "async-concurrency"})


@dataclass(frozen=True)
class Docs:
    """A rule's documentation, in the sections ruff uses for its rule pages."""

    what: str
    why: str
    example: str
    instead: str
    not_caught: str
    references: tuple[str, ...] = ()

    def markdown(self) -> str:
        parts = [
            "## What it does\n" + self.what,
            "## Why it fails in production\n" + self.why,
            "## Example\n```python\n" + self.example.strip("\n") + "\n```",
            "## Use instead\n```python\n" + self.instead.strip("\n") + "\n```",
            "## What it deliberately does not catch\n" + self.not_caught,
        ]
        # A project's own Semgrep rule has a message, not the five sections: leave out the empty ones.
        parts = [part for part, body in zip(parts, (self.what, self.why, self.example, self.instead,
                                                     self.not_caught)) if body.strip()]
        if self.references:
            parts.append("## References\n" + "\n".join(f"- <{ref}>" for ref in self.references))
        return "\n\n".join(parts) + "\n"


@dataclass(frozen=True, eq=False)
class Rule:
    id: str
    name: str
    category: str
    severity: str
    precision: str
    summary: str
    docs: Docs
    cwe: str | None = None
    # Security-relevant rules carry GitHub's security-severity (a number 0.0-10.0 as text).
    security_severity: str | None = None
    semgrep: bool = False
    # Finer labels inside the category (`async-blocking`, `race`, `idempotency`), added to the SARIF tags so that
    # code scanning can filter on them.
    tags: tuple[str, ...] = ()
    # Words a file must contain (usually module or method names) for the rule to possibly match. A file with none
    # of them skips the rule entirely: its Python handlers are not dispatched and Semgrep is not given the file.
    # Empty: the rule may match any file.
    hints: tuple[str, ...] = ()
    # Further word groups the file must also contain, one word of each group: a taint rule whose sources are
    # request objects needs `("request", "req")` whatever its sink words. Empty: no further condition.
    requires: tuple[tuple[str, ...], ...] = ()
    # Match `hints` and `requires` (then written in lower case) against the lower-cased file: for rules whose
    # pattern is case-insensitive, such as a secret's name in any spelling.
    fold_case: bool = False
    # A Semgrep rule's finer test of the file's bytes, made once its `hints` and `requires` pass: a compiled bytes
    # regex that must match somewhere in the file, or a function of the bytes that says whether the rule can
    # match. Written as a superset of what the rule's YAML can match (each rule says why), so that it only keeps
    # files with nothing to find away from Semgrep; it runs on every file, so it must be one cheap pass.
    # None: no further condition.
    prefilter: "re.Pattern[bytes] | Callable[[bytes], bool] | None" = None
    # A project's own Semgrep rule (`semgrep-rules`): its YAML file. Such a rule keeps its own id, may have the
    # category `custom`, and is not added to the shipped registry.
    source_file: Path | None = None
    help_url: str | None = None
    # Kinds of fact its project checks read that a fact pass records (`orm-model`, `orm-function` ...): the engine
    # runs those handlers of the pass on every file the rule may apply to. The rule itself never records them.
    reads: tuple[str, ...] = ()
    # The rule never reports on a test module (`checks.scopes.is_test_module`, i.e. `is_test_path` of the file's
    # path) and records nothing there: the engine does not dispatch its handlers on test modules at all (they are
    # most of a large project's files under `include-tests`). Set it only where every handler already exits there.
    skip_tests: bool = False
    # Whether the rule leaves a repository's tooling out (`discovery.is_tooling_path`: developer and operator
    # scripts no server runs). None: by category - the rules about a running service (unbounded reads, N+1,
    # timeouts, logging of outages, SQL building, async and concurrency) do, the others do not.
    skip_tooling: bool | None = None
    # The rule never reports in a program run by hand: a `__main__` script that starts no server and defines no
    # handler (`checks.scopes.is_test_or_script`). For a Semgrep rule, which sees text only, the Python pass
    # records which files are such scripts (it must read `script-module`), and the engine drops its findings there.
    skip_scripts: bool = False
    # (node type, handler) pairs; filled by the `on` decorator at import time of the check module.
    handlers: list[tuple[type[ast.AST], Handler]] = field(default_factory=list, repr=False, compare=False)
    # Call handlers registered with `callees=`: handler -> the last names of the callees it can report on.
    callees: dict[Handler, frozenset[str]] = field(default_factory=dict, repr=False, compare=False)
    # Project checks: run once per scan over the facts that per-file handlers recorded with `ctx.record`.
    project_handlers: list[ProjectHandler] = field(default_factory=list, repr=False, compare=False)

    @property
    def skips_tooling(self) -> bool:
        if self.skip_tooling is not None:
            return self.skip_tooling
        return self.category in SERVICE_CATEGORIES and self.source_file is None


    def __post_init__(self) -> None:
        if self.source_file is not None:
            if self.severity not in SEVERITIES or self.precision not in PRECISIONS or not self.semgrep:
                raise ValueError(f"{self.id}: a project rule needs a known severity and precision, and semgrep=True")
            return
        if not RULE_ID.match(self.id):
            raise ValueError(f"rule id {self.id!r} is not GAP + three digits")
        if not RULE_NAME.match(self.name):
            raise ValueError(f"rule name {self.name!r} is not kebab-case")
        if self.category not in CATEGORY_BLOCK:
            raise ValueError(f"{self.id}: unknown category {self.category!r}")
        if int(self.id[3]) != CATEGORY_BLOCK[self.category]:
            raise ValueError(f"{self.id}: id is outside the {self.category} block GAP{CATEGORY_BLOCK[self.category]}xx")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.id}: severity must be one of {SEVERITIES}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"{self.id}: precision must be one of {PRECISIONS}")
        _REGISTRY.add(self)

    def may_apply(self, text: str | bytes) -> bool:
        """The rule can only match a file that holds one of its hint words and a word of each `requires` group
        (a plain substring test), and that passes its `prefilter`: a prefilter, never a verdict."""
        original = text
        if self.fold_case:
            text = text.lower()
        if isinstance(text, bytes):
            hints, groups = self._encoded
        else:
            hints, groups = self.hints, self.requires
        if hints and not any(word in text for word in hints):
            return False
        if not all(any(word in text for word in group) for group in groups):
            return False
        test = getattr(self, "prefilter", None)  # a duck-typed stand-in for a rule may not have the field
        if test is None:
            return True
        data = original if isinstance(original, bytes) else original.encode("utf-8", "surrogatepass")
        return bool(test.search(data) if isinstance(test, re.Pattern) else test(data))

    @property
    def _encoded(self) -> tuple[tuple[bytes, ...], tuple[tuple[bytes, ...], ...]]:
        cached = self.__dict__.get("_encoded_words")
        if cached is None:
            cached = (tuple(w.encode() for w in self.hints),
                      tuple(tuple(w.encode() for w in group) for group in self.requires))
            object.__setattr__(self, "_encoded_words", cached)
        return cached

    def on(self, *node_types: type[ast.AST], callees: Iterable[str] | None = None) -> Callable[[Handler], Handler]:
        """Register a handler called for every node of these types, in the engine's single walk.

        `callees` (for `ast.Call` only): the handler can only report on, or record facts for, calls whose callee's
        last name (`get` in `get(...)`, `requests.get(...)` and `self.session.get(...)`) is one of these words;
        a dotted name counts by its last part, so a table of qualified names (`subprocess.run`) can be passed as
        it is. The engine then calls it for those calls only, and for every call through a name that an import
        binds under another name (`from subprocess import run as sh`), whose qualified name can differ from its
        spelling. A handler that also looks at other calls (a name's suffix, any local function) keeps the plain
        form."""
        names: frozenset[str] | None = None
        if callees is not None:
            if tuple(node_types) != (ast.Call,):
                raise ValueError(f"{self.id}: callees= filters ast.Call handlers only")
            if isinstance(callees, str):
                raise ValueError(f"{self.id}: callees= takes a collection of names, not one string")
            names = frozenset(name.rsplit(".", 1)[-1] for name in callees)
            if not names or not all(name.isidentifier() for name in names):
                raise ValueError(f"{self.id}: callees= needs one or more names")

        def register(fn: Handler) -> Handler:
            for node_type in node_types:
                self.handlers.append((node_type, fn))
            if names is not None:
                self.callees[fn] = names
            return fn

        return register

    def on_project(self, fn: ProjectHandler) -> ProjectHandler:
        """Register a project check: called once per scan with the ProjectIndex of every file's recorded facts
        (cross-file questions such as "does the helper called in this loop run a query?")."""
        self.project_handlers.append(fn)
        return fn

    @property
    def is_python(self) -> bool:
        return bool(self.handlers or self.project_handlers)

    @property
    def help_uri(self) -> str | None:
        if self.source_file is not None:
            return self.help_url
        return f"{PROJECT_URL}/blob/main/docs/rules.md#{self.id.lower()}-{self.name}"


PROJECT_URL = "https://github.com/gapcheck/gapcheck"


@dataclass(eq=False)
class FactPass:
    """Facts about each file that project checks read: the project index (models, managers, function summaries,
    calls made per loop item). Its handlers run in the engine's single walk, before the rules' handlers for the
    same node, once per file, and only for the kinds of fact that an enabled rule which may apply to the file
    `reads`; they record facts and never report. One home for what several rules' joins share, so no rule has
    to record another's facts and a rule selected alone still sees them."""

    name: str
    # (node type, fact kind, handler) triples; filled by `on` at import time of the module that defines the pass.
    handlers: list[tuple[type[ast.AST], str, Handler]] = field(default_factory=list, repr=False)
    # The pass records nothing on a test module (as `Rule.skip_tests`): its handlers are not dispatched there.
    skip_tests: bool = False

    def __post_init__(self) -> None:
        if any(p.name == self.name for p in _PASSES):
            raise ValueError(f"duplicate fact pass {self.name}")
        _PASSES.append(self)

    def on(self, *node_types: type[ast.AST], fact: str) -> Callable[[Handler], Handler]:
        """Register a handler that records facts of kind `fact` for every node of these types."""

        def register(fn: Handler) -> Handler:
            for node_type in node_types:
                self.handlers.append((node_type, fact, fn))
            return fn

        return register

    @property
    def id(self) -> str:
        """The name a notification gives when one of its handlers fails on a file (as a rule's id does)."""
        return self.name

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(kind for _, kind, _ in self.handlers)


_PASSES: list[FactPass] = []


def fact_passes() -> list[FactPass]:
    """Every fact pass the check modules define (loaded with the rules)."""
    load_rules()
    return list(_PASSES)


class _Registry:
    """Rules by id. Filled once per process when the check modules are imported; read-only afterwards."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}
        self._names: dict[str, Rule] = {}

    def add(self, rule: Rule) -> None:
        if rule.id in self._rules:
            raise ValueError(f"duplicate rule id {rule.id}")
        if rule.name in self._names:
            raise ValueError(f"duplicate rule name {rule.name}")
        self._rules[rule.id] = rule
        self._names[rule.name] = rule

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self._rules.values(), key=lambda r: r.id))

    def get(self, key: str) -> Rule | None:
        return self._rules.get(key.upper()) or self._names.get(key.lower())


_REGISTRY = _Registry()
# Filled once per process by load_rules: the check modules that failed to import, with the reason.
_LOAD_ERRORS: dict[str, str] = {}
_LOADED: list[bool] = []


def load_rules() -> list[Rule]:
    """Import every module under the checks package once; each module registers its rules.

    A module that fails to import loses only its own rules: the failure is kept for `load_errors()` (the scan
    reports it as an error and exits 2) and every other rule still runs.
    """
    if not _LOADED:
        from .. import checks  # the checks package sits beside analyzer in the gapcheck namespace

        for name in _check_modules(list(checks.__path__), checks.__name__):
            try:
                importlib.import_module(name)
            except Exception as exc:  # a broken check module must not take every other rule down with it
                _LOAD_ERRORS[name] = f"{type(exc).__name__}: {exc}"
        _LOADED.append(True)
    return list(_REGISTRY)


def _check_modules(path: list[str], package: str) -> list[str]:
    """Every module and package under the checks package, by name, found on disk without importing anything.
    `checks.fixes` is left out: it holds no rules, and analyzer/fixes.py imports it (and LibCST) when a fix is
    wanted, so a scan does not pay that import."""
    names: list[str] = []
    stack = [(path, package + ".")]
    while stack:
        folders, prefix = stack.pop()
        for info in pkgutil.iter_modules(folders, prefix):
            if info.name == f"{package}.fixes":
                continue
            names.append(info.name)
            if info.ispkg:
                leaf = info.name.rsplit(".", 1)[-1]
                stack.append(([str(Path(folder, leaf)) for folder in folders], info.name + "."))
    return sorted(names)


def load_errors() -> dict[str, str]:
    load_rules()
    return dict(_LOAD_ERRORS)


def code_digest() -> str:
    """A hash of gapcheck's own analysis code (engine and checks): part of every cache key, so results cached by
    an edited or upgraded gapcheck are never reused."""
    if not _CODE_DIGEST:
        from .. import checks

        digest = hashlib.blake2b(digest_size=16)
        roots = [Path(__file__).resolve().parent, *(Path(p).resolve() for p in checks.__path__)]
        for root in roots:
            for path in sorted(root.rglob("*.py")):
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
        _CODE_DIGEST.append(digest.hexdigest())
    return _CODE_DIGEST[0]


_CODE_DIGEST: list[str] = []


def get_rule(key: str) -> Rule | None:
    load_rules()
    return _REGISTRY.get(key)


def resolve_selector(selector: str) -> list[Rule]:
    """Rules named by a selector: an id (GAP501), an id prefix (GAP5, GAP), a category slug, a rule name or ALL."""
    rules = load_rules()
    token = selector.strip()
    upper = token.upper()
    if upper == "ALL":
        return rules
    if token.lower() in CATEGORY_BLOCK:
        return [r for r in rules if r.category == token.lower()]
    if upper.startswith("GAP") and upper[3:].isdigit() or upper == "GAP":
        return [r for r in rules if r.id.startswith(upper)]
    by_name = _REGISTRY.get(token)
    if by_name:
        return [by_name]
    return [r for r in rules if token.lower() in r.tags]  # a finer tag: async-blocking, race, idempotency


def is_valid_selector(selector: str) -> bool:
    token = selector.strip()
    upper = token.upper()
    if upper in ("ALL", "GAP") or token.lower() in CATEGORY_BLOCK:
        return True
    if upper.startswith("GAP") and upper[3:].isdigit() and len(upper) <= 6:
        return True
    return get_rule(token) is not None or any(token.lower() in r.tags for r in load_rules())


def explain_markdown(rule: Rule) -> str:
    """What `gapcheck explain` prints and an editor's hover shows: the heading, the summary, the facts, the docs."""
    from .fixes import fix_safety, has_fix

    cwe = f" · {rule.cwe}" if rule.cwe else ""
    fix = has_fix(rule.id)
    fix_line = (f"fix: {fix} (--fix{' --unsafe-fixes' if fix == 'unsafe' else ''}): {fix_safety(rule.id)}\n"
                if fix else "fix: none\n")
    return (f"# {rule.id} {rule.name}\n\n{rule.summary}\n\n"
            f"category: {rule.category} · severity: {rule.severity} · precision: {rule.precision}"
            f" · engine: {'semgrep' if rule.semgrep else 'python'}{cwe}\n{fix_line}\n" + rule.docs.markdown())


def rules_markdown(rules: list[Rule]) -> str:
    """docs/rules.md: every rule's documentation, from the registry (the SARIF help links point here)."""
    from .fixes import fix_safety, has_fix

    out = ["# gapcheck rules", "",
           "Generated by `gapcheck rules --format markdown` from the rule registry; do not edit by hand.", "",
           "| id | name | category | severity | precision | engine | fix |", "|---|---|---|---|---|---|---|"]
    for rule in rules:
        engine = "semgrep" if rule.semgrep else "python"
        out.append(f"| [{rule.id}](#{rule.id.lower()}-{rule.name}) | {rule.name} | {rule.category} | {rule.severity} "
                   f"| {rule.precision} | {engine} | {has_fix(rule.id) or ''} |")
    for rule in rules:
        cwe = f" · {rule.cwe}" if rule.cwe else ""
        body = re.sub(r"^## ", "### ", rule.docs.markdown(), flags=re.MULTILINE).rstrip("\n")
        fix = has_fix(rule.id)
        if fix:
            flags = "--fix --unsafe-fixes" if fix == "unsafe" else "--fix"
            body += f"\n\n### Fix safety\nFix: {fix} (`gapcheck scan {flags}`). {fix_safety(rule.id)}"
        out += ["", f"## {rule.id} {rule.name}", "",
                f"{rule.summary}. Category `{rule.category}` · severity {rule.severity} · precision {rule.precision}"
                f"{cwe}.", "", body]
    return "\n".join(out) + "\n"
