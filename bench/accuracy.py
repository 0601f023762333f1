#!/usr/bin/env python3
"""Accuracy of gapcheck on a labelled corpus of assistant-written apps: precision and recall per category.

    python bench/accuracy.py --corpus DIR                 # scan every app, score, update bench/RESULTS.md
    python bench/accuracy.py --corpus DIR --rev HEAD      # a committed snapshot instead of the installed gapcheck
    python bench/accuracy.py --corpus DIR --detail        # also every hit, false positive and miss
    python bench/accuracy.py --corpus DIR --no-write      # print only

DIR is a labelled corpus laid out as `labels/<set>-<app>.json`, `ai-apps/<set>/<app>/` and a stdlib `score.py`
that scores SARIF files against the labels (the development corpus the team shares has this layout). Each app is
scanned on its own, from its own folder, as a user would (`gapcheck scan . --no-cache --format sarif`), with the
Semgrep rules on unless `--no-semgrep`. The figures replace the "Accuracy" section of the results file, so every
change that moves them shows in its diff. This is a measurement, not a test: pytest holds no accuracy threshold.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BEGIN = "<!-- accuracy:begin -->"
END = "<!-- accuracy:end -->"
CORE = ("in-memory-state", "unbounded-query", "n-plus-one", "timeout-retry", "broad-except", "no-logging",
        "sql-building")


def scan_apps(corpus: Path, prefix: list[str], env: dict, out: Path, extra: list[str]) -> list[str]:
    """One SARIF per app into `out`; returns the apps whose scan failed (no report)."""
    failed = []
    for label in sorted((corpus / "labels").glob("*.json")):
        app = json.loads(label.read_text(encoding="utf-8"))["app"]
        app_dir = corpus / "ai-apps" / app
        if not app_dir.is_dir():
            continue
        report = out / (app.replace("/", "-") + ".sarif")
        proc = subprocess.run([*prefix, "scan", ".", "--no-cache", "--format", "sarif", "-o", str(report), *extra],
                              cwd=app_dir, env=env, capture_output=True, text=True)
        if proc.returncode not in (0, 1) or not report.is_file():
            failed.append(f"{app} (exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]})")
    return failed


def score(corpus: Path, sarif_dir: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(corpus / "score.py"), "--sarif-dir", str(sarif_dir), *flags],
                          capture_output=True, text=True, check=True)


def table(result: dict) -> list[str]:
    rows = ["| category | TP | FP | FN | precision | recall |", "|---|---:|---:|---:|---:|---:|"]

    def row(name: str, c: dict, bold: bool = False) -> str:
        tp, fp, fn = c["tp"], c["fp"], c["fn"]
        prec = f"{tp / (tp + fp):.2f}" if tp + fp else "-"
        rec = f"{tp / (tp + fn):.2f}" if tp + fn else "-"
        cells = [name, str(tp), str(fp), str(fn), prec, rec]
        if bold:
            cells = [f"**{c}**" for c in cells]
        return "| " + " | ".join(cells) + " |"

    per = result.get("categories", {})
    for name in CORE:
        if name in per:
            rows.append(row(name, per[name]))
    rows.append(row("core, all", result["core"], bold=True))
    for name in per:
        if name not in CORE:
            rows.append(row(name, per[name]))
    if "extra" in result:
        rows.append(row("extra, all", result["extra"]))
    return rows


def write_section(results_file: Path, lines: list[str]) -> None:
    text = results_file.read_text(encoding="utf-8") if results_file.exists() else "# gapcheck benchmark results\n"
    section = "\n".join([BEGIN, *lines, END])
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    results_file.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="labelled corpus: labels/, ai-apps/, score.py")
    ap.add_argument("--rev", help="score a snapshot of this commit (default: the gapcheck that `python -m` finds)")
    ap.add_argument("--gapcheck-cmd", help="command that runs gapcheck (default: python -m gapcheck.analyzer)")
    ap.add_argument("--no-semgrep", action="store_true", help="Python checks only")
    ap.add_argument("--detail", action="store_true", help="print every hit, false positive and miss")
    ap.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="results file to update")
    ap.add_argument("--no-write", action="store_true", help="print the figures, leave the results file alone")
    args = ap.parse_args(argv)

    corpus = args.corpus.resolve()
    if not (corpus / "score.py").is_file() or not (corpus / "labels").is_dir():
        ap.error(f"{args.corpus} has no score.py and labels/: not a labelled corpus")
    env = dict(os.environ)
    prefix = shlex.split(args.gapcheck_cmd) if args.gapcheck_cmd else [sys.executable, "-m", "gapcheck.analyzer"]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    revision = ("a custom gapcheck command" if args.gapcheck_cmd else "the installed gapcheck") + \
        (f" (repository at {head})" if head else "")
    if args.rev:
        sys.path.insert(0, str(HERE))
        from run import cache_root, snapshot  # the benchmark's own snapshot export (git archive)

        src, sha = snapshot(args.rev, cache_root())
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        revision = f"commit {sha[:12]}"
    extra = ["--no-semgrep"] if args.no_semgrep else []

    with tempfile.TemporaryDirectory(prefix="gapcheck-accuracy-") as tmp:
        started = time.perf_counter()
        failed = scan_apps(corpus, prefix, env, Path(tmp), extra)
        seconds = time.perf_counter() - started
        if failed:
            print("scan failed for: " + "; ".join(failed), file=sys.stderr)
            return 2
        result = json.loads(score(corpus, Path(tmp), "--json").stdout)
        if args.detail:
            print(score(corpus, Path(tmp), "--detail").stdout)

    apps = len(list((corpus / "labels").glob("*.json")))
    lines = [
        "## Accuracy on the labelled assistant-app corpus",
        "",
        f"`python bench/accuracy.py --corpus <corpus>{' --rev ' + args.rev if args.rev else ''}"
        f"{' --no-semgrep' if args.no_semgrep else ''}` on {revision}: {apps} apps, each scanned from its own"
        f" folder{' without Semgrep' if args.no_semgrep else ', Semgrep rules on'} ({seconds:.0f} s in all). A"
        " finding counts when its file, category and start line match a labelled gap; see the corpus README.",
        "",
        *table(result),
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section(args.output, lines)
        print(f"\nwrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
