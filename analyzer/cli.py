"""The command line: `gapcheck scan`, `rules`, `explain` and `server`. It only wires options to the engine."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from . import __version__
from .config import FAIL_ON, ConfigError, load_settings
from .reporters import FORMATS, render

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2  # usage, config, or tool failure (Semgrep missing or failing)
EXIT_INCOMPLETE = 3  # some files could not be read or parsed; every other file was analysed
LEVEL_RANK = {"note": 1, "warning": 2, "error": 3}


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="gapcheck", message="%(prog)s %(version)s")
def main() -> None:
    """Find the engineering gaps that make AI-written Python fail in production."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to FILE instead of stdout.")
@click.option("--select", multiple=True, help="Rules to run: ids (GAP501), prefixes (GAP5) or categories.")
@click.option("--extend-select", multiple=True, help="Rules to run in addition to those selected.")
@click.option("--ignore", multiple=True, help="Rules to leave out: ids, prefixes or categories.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default=None,
              help="Lowest severity that makes the exit code 1 [default: note, any finding].")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=None, help="Processes to use [default: all cores].")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache folder [default: .gapcheck_cache].")
@click.option("--prune-cache", is_flag=True,
              help="After the scan, delete cache entries it did not use (for a cache kept between CI runs).")
@click.option("--no-semgrep", is_flag=True, help="Skip the Semgrep rules.")
@click.option("--semgrep-timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Stop Semgrep after this long and report its rules as not run [default: 300].")
@click.option("--semgrep-rules", "semgrep_rules", multiple=True, type=click.Path(), metavar="PATH",
              help="A Semgrep rule file or folder of your own to run with gapcheck's rules (repeatable).")
@click.option("--include-tests", is_flag=True,
              help="Analyse test modules too (tests/ folders, test_*.py, conftest.py); they are left out by default.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Config file [default: nearest pyproject.toml with [tool.gapcheck]].")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only: no summary or notices on stderr.")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False),
              help="Report only findings that are not in this baseline (see --write-baseline).")
@click.option("--write-baseline", "write_baseline_file", type=click.Path(dir_okay=False),
              help="Record the current findings in FILE as the baseline; exit 0 unless the scan itself failed.")
@click.option("--diff", "diff_ref", metavar="REF",
              help="Report only findings on lines added or changed since the git ref (from its merge base).")
@click.option("--force-exclude", is_flag=True,
              help="Apply excludes and .gitignore to files named on the command line too (for pre-commit).")
@click.option("--fix", is_flag=True, help="Apply the safe fixes in place, then report the findings that remain.")
@click.option("--unsafe-fixes", is_flag=True,
              help="Apply the unsafe fixes too (they change run-time behaviour: timeouts, query parameters); "
                   "implies --fix.")
@click.option("--dry-run", is_flag=True, help="With --fix: print the fixes as a unified diff and change no file "
                                             "(exit 1 when there is something to fix).")
@click.option("--timings", is_flag=True, hidden=True, help="Print phase timings as JSON on stderr (benchmarks).")
def scan(paths: tuple[str, ...], fmt: str, output: str | None, select: tuple[str, ...],
         extend_select: tuple[str, ...], ignore: tuple[str, ...], fail_on: str | None, jobs: int | None,
         no_cache: bool, cache_dir: str | None, prune_cache: bool, no_semgrep: bool, semgrep_timeout: float | None,
         semgrep_rules: tuple[str, ...], include_tests: bool,
         config_file: str | None, quiet: bool,
         baseline_file: str | None, write_baseline_file: str | None, diff_ref: str | None, force_exclude: bool,
         fix: bool, unsafe_fixes: bool, dry_run: bool, timings: bool) -> None:
    """Scan PATHS (default: the current folder) for engineering gaps."""
    from .baseline import BaselineError
    from .engine import cpu_count, scan as run_scan
    from .gitdiff import GitDiffError
    from .registry import is_valid_selector

    if write_baseline_file and (baseline_file or diff_ref):
        _fail("--write-baseline records every current finding; use it without --baseline and --diff")
    fixing = fix or unsafe_fixes
    if dry_run and not fixing:
        _fail("--dry-run shows what --fix would change; use it with --fix (or --unsafe-fixes)")
    if fixing and write_baseline_file:
        _fail("--write-baseline records the findings as they are; run --fix separately")

    try:
        settings = load_settings(list(paths), config_file)
    except ConfigError as exc:
        _fail(str(exc))
    if semgrep_rules:
        settings.semgrep_rule_paths = settings.semgrep_rule_paths + [Path(p).resolve() for p in semgrep_rules]
    own_ids: set[str] = set()
    if settings.semgrep_rule_paths:
        from .custom_rules import CustomRuleError, load as load_custom_rules

        try:
            settings.custom_rules = load_custom_rules(settings.semgrep_rule_paths)
        except CustomRuleError as exc:
            _fail(str(exc))
        own_ids = {r.id for r in settings.custom_rules} | {"custom"}
    for option, values in (("--select", select), ("--extend-select", extend_select), ("--ignore", ignore)):
        for selector in _split(values):
            if not is_valid_selector(selector) and selector not in own_ids:
                _fail(f"{option}: unknown rule or category {selector!r} (see `gapcheck rules`)")
    if select:
        settings.select = _split(select)
    if extend_select:
        settings.select = settings.select + _split(extend_select)
    if ignore:
        settings.ignore = settings.ignore + _split(ignore)
    if fail_on:
        settings.fail_on = fail_on
    if jobs is not None:
        settings.jobs = jobs
    settings.jobs = settings.jobs or cpu_count()
    if no_cache:
        settings.cache = False
    if cache_dir:
        settings.cache_dir = str(Path(cache_dir).resolve())
    settings.prune_cache = prune_cache
    if no_semgrep:
        settings.semgrep = False
    if semgrep_timeout is not None:
        settings.semgrep_timeout = semgrep_timeout
    if include_tests:
        settings.include_tests = True
    if force_exclude:
        from .filters import drop_excluded

        settings.paths = drop_excluded(settings)
    post_filters = None
    if baseline_file or diff_ref:
        from .filters import PostFilters

        try:
            post_filters = PostFilters.load(settings.cwd, baseline_file, diff_ref)
        except (BaselineError, GitDiffError) as exc:
            _fail(str(exc))

    result = run_scan(settings)
    if write_baseline_file:
        from .baseline import write as write_baseline

        try:
            written = write_baseline(write_baseline_file, result.findings, settings.cwd)
        except BaselineError as exc:
            _fail(str(exc))
        if not quiet:
            click.echo(f"gapcheck: wrote {written} finding{'' if written == 1 else 's'} to the baseline "
                       f"{write_baseline_file}", err=True)
        settings.fail_on = "never"
    elif post_filters is not None:
        from .filters import apply as apply_filters

        result = apply_filters(result, post_filters)
    if fixing:
        changed = _apply_fixes(result, settings, unsafe_fixes, dry_run, quiet)
        if dry_run:
            sys.exit(EXIT_FINDINGS if changed else EXIT_CLEAN)
        if changed:  # report what is left, as ruff does: the same scan over the fixed files
            result = run_scan(settings)
            if post_filters is not None:
                from .filters import apply as apply_filters

                result = apply_filters(result, post_filters)
    if fmt == "sarif":
        from .fixes import attach_fixes

        attach_fixes(result, str(settings.cwd), settings.fix_timeout)
    report = render(fmt, result, cwd=str(settings.cwd))
    if output:
        try:
            Path(output).write_text(report, encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}")
    else:
        click.echo(report, nl=False)

    if not quiet and fmt != "text":
        from .reporters.text import summary

        for note in result.notifications:
            where = f"{note.path}: " if note.path else ""
            click.echo(f"gapcheck: {note.level}: {where}{note.message}", err=True)
        click.echo(f"gapcheck: {summary(result)}", err=True)
    if timings:
        click.echo(json.dumps({k: round(v, 4) for k, v in result.timings.items()}), err=True)
    sys.exit(exit_code(result, settings.fail_on))


def _apply_fixes(result, settings, unsafe: bool, dry_run: bool, quiet: bool) -> int:
    """Fix the findings of `result` in their files (or print the diff); the number of files changed."""
    from .engine import python_rescan
    from .fixes import encode, fix_files

    changed = 0
    fixed = 0
    for file_fix in fix_files(result.findings, str(settings.cwd), unsafe, settings.fix_timeout,
                              python_rescan(settings)):
        for finding, why in file_fix.outcome.dropped:
            if not quiet and not why.startswith("no fix"):
                click.echo(f"gapcheck: note: {finding.path}:{finding.line}: {finding.rule_id} fix not applied: {why}",
                           err=True)
        if not file_fix.changed:
            continue
        changed += 1
        fixed += len(file_fix.outcome.fixed)
        if dry_run:
            click.echo(file_fix.diff(), nl=False)
            continue
        target = Path(settings.cwd) / file_fix.path
        try:
            target.write_bytes(encode(file_fix.outcome.text, file_fix.source))
        except OSError as exc:
            _fail(f"cannot write the fixed {file_fix.path}: {exc.strerror or exc}")
    if not quiet:
        verb = "would fix" if dry_run else "fixed"
        click.echo(f"gapcheck: {verb} {fixed} finding{'' if fixed == 1 else 's'} in {changed} "
                   f"file{'' if changed == 1 else 's'}", err=True)
    return changed


def exit_code(result, fail_on: str) -> int:
    """2 beats 3 beats 1: a broken tool or config first, then an incomplete scan, then findings."""
    if result.semgrep_failed or result.broken_checks or any(n.kind == "missing-path" for n in result.notifications):
        return EXIT_ERROR
    if result.incomplete:
        return EXIT_INCOMPLETE
    if fail_on != "never":
        threshold = LEVEL_RANK[fail_on]
        if any(LEVEL_RANK.get(f.severity, 2) >= threshold for f in result.findings):
            return EXIT_FINDINGS
    return EXIT_CLEAN


def _fail(message: str) -> None:
    click.echo(f"gapcheck: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table",
              show_default=True)
def rules(fmt: str) -> None:
    """List every rule: id, name, category, severity, precision, fix (`--format markdown` writes docs/rules.md)."""
    from .registry import load_rules, rules_markdown

    all_rules = load_rules()
    if fmt == "markdown":
        click.echo(rules_markdown(all_rules), nl=False)
        return
    from .fixes import has_fix

    if fmt == "json":
        click.echo(json.dumps([
            {"id": r.id, "name": r.name, "category": r.category, "severity": r.severity, "precision": r.precision,
             "engine": "semgrep" if r.semgrep else "python", "fix": has_fix(r.id), "cwe": r.cwe, "summary": r.summary}
            for r in all_rules
        ], indent=2))
        return
    header = ("ID", "NAME", "CATEGORY", "SEVERITY", "PRECISION", "ENGINE", "FIX", "SUMMARY")
    rows = [(r.id, r.name, r.category, r.severity, r.precision, "semgrep" if r.semgrep else "python",
             has_fix(r.id) or "-", r.summary) for r in all_rules]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        click.echo("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1])


@main.command()
@click.argument("rule")
def explain(rule: str) -> None:
    """Show a rule's documentation (by id, like GAP501, or by name)."""
    from .registry import explain_markdown, get_rule

    found = get_rule(rule)
    if found is None:
        _fail(f"unknown rule {rule!r} (see `gapcheck rules`)")
        return
    click.echo(explain_markdown(found), nl=False)


@main.command()
def server() -> None:
    """Run the language server on stdin/stdout, for editors (see "Editors" in the README)."""
    from .server import serve

    serve()


@main.command("cache-key", hidden=True)
def cache_key() -> None:
    """Print a digest of gapcheck's version, analysis code and shipped rules: the part of a CI cache key that
    says when cached results can no longer be reused (the entries themselves are keyed by content as well)."""
    import hashlib

    from .registry import code_digest
    from .semgrep import rules_digest

    digest = hashlib.blake2b("\0".join([__version__, code_digest(), rules_digest()]).encode(), digest_size=8)
    click.echo(f"{__version__}-{digest.hexdigest()}")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
