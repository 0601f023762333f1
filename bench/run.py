#!/usr/bin/env python3
"""Benchmark harness for gapcheck.

Runs gapcheck (and, when installed, bandit, pylint, ruff and semgrep with our
own rules) over pinned real-world corpora and writes a Markdown report plus a
JSON sidecar.  Standard library only; psutil is used for RSS sampling on
platforms without /proc when it is installed.

    python bench/run.py [--corpus django|sqlalchemy|oscar|all] [--runs 5]
                        [--no-peers] [--output bench/RESULTS.md]

See bench/README.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

try:  # optional
    import psutil  # type: ignore
except ImportError:  # pragma: no cover - optional dependency
    psutil = None

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None

REPO = Path(__file__).resolve().parent.parent
HOME = Path.home()

# --------------------------------------------------------------------------
# Corpora: pinned sdists from PyPI.  `changed` is the file the "one file
# changed" scenario appends a comment to (relative to the unpacked sdist).
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    key: str
    dist: str
    version: str
    changed: str
    title: str


CORPORA = {
    "django": Corpus("django", "Django", "5.2.8", "django/db/models/query.py", "Django 5.2.8"),
    "sqlalchemy": Corpus(
        "sqlalchemy", "SQLAlchemy", "2.0.36", "lib/sqlalchemy/orm/session.py", "SQLAlchemy 2.0.36"
    ),
    "oscar": Corpus(
        "oscar",
        "django-oscar",
        "4.2.1",
        "src/oscar/apps/basket/abstract_models.py",
        "django-oscar 4.2.1",
    ),
}

# gapcheck exit codes: 0 clean, 1 findings, 3 some files could not be parsed.
GAPCHECK_OK = {0, 1, 3}

TARGETS_TEXT = {
    "cold": "cold scan <= 7 s",
    "cold_all": "cold scan, test modules included, <= 10 s",
    "bandit": ">= 5x faster than bandit (both on every file, tests included)",
    "pylint": ">= 10x faster than pylint (both on every file, tests included)",
    "warm": "warm (nothing changed) <= 0.5 s",
    "one_changed": "one file changed <= 0.8 s",
    "rss": "peak RSS of the process tree <= 1 GB",
    "lines_per_core": "Python pass >= 40k lines/s/core (every file, tests included)",
    "scaling": "Django+SQLAlchemy within ±15% of the sum of each alone",
}


# --------------------------------------------------------------------------
# Paths and display
# --------------------------------------------------------------------------


def cache_root() -> Path:
    env = os.environ.get("GAPCHECK_BENCH_CACHE")
    return Path(env).expanduser() if env else HOME / ".cache" / "gapcheck-bench"


class Redactor:
    """Turns machine paths into placeholders so reports never carry them."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def add(self, path: Path | str, label: str) -> None:
        s = str(path)
        if s and (s, label) not in self.pairs:
            self.pairs.append((s, label))
            self.pairs.sort(key=lambda p: -len(p[0]))  # longest first

    def __call__(self, text: str) -> str:
        for s, label in self.pairs:
            text = text.replace(s, label)
        return text

    def cmd(self, argv: list[str]) -> str:
        return self(" ".join(shlex.quote(a) for a in argv))


REDACT = Redactor()


def setup_redactor(cache: Path, tmp: Path) -> None:
    REDACT.add(sys.executable, "python")
    REDACT.add(Path(sys.executable).resolve(), "python")
    REDACT.add(cache / "work", "$CACHE/work")
    REDACT.add(cache, "$CACHE")
    REDACT.add(tmp, "$TMP")
    REDACT.add(REPO, ".")
    REDACT.add(tempfile.gettempdir(), "$TMPDIR")
    REDACT.add(HOME, "~")
    for exe in ("semgrep", "bandit", "pylint", "ruff"):
        found = shutil.which(exe)
        if found:
            REDACT.add(found, exe)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Corpus download, unpack, line counting
# --------------------------------------------------------------------------


def fetch_corpus(c: Corpus, cache: Path) -> Path:
    """Returns the pristine unpacked sdist directory, downloading it if needed."""
    sdists = cache / "sdist"
    corpora = cache / "corpora"
    sdists.mkdir(parents=True, exist_ok=True)
    corpora.mkdir(parents=True, exist_ok=True)
    marker = corpora / f"{c.key}-{c.version}.ok"
    if marker.exists():
        d = corpora / marker.read_text().strip()
        if d.is_dir():
            return d
    def is_ours(p: Path) -> bool:
        tail = f"-{c.version}.tar.gz"
        if not p.name.lower().endswith(tail):
            return False
        return p.name[: -len(tail)].lower().replace("-", "_") == c.dist.lower().replace("-", "_")

    found = [p for p in sdists.iterdir() if is_ours(p)]
    if not found:
        log(f"downloading {c.dist}=={c.version} (sdist) ...")
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            f"{c.dist}=={c.version}", "-d", str(sdists),
        ]
        r = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"pip download failed for {c.dist}=={c.version}:\n{REDACT(r.stderr[-2000:])}")
        found = [p for p in sdists.iterdir() if is_ours(p)]
        if not found:
            raise SystemExit(f"pip download produced no sdist for {c.dist}=={c.version}")
    sdist = found[0]
    log(f"unpacking {sdist.name} ...")
    with tarfile.open(sdist) as tf:
        tops = {m.name.split("/", 1)[0] for m in tf.getmembers()}
        if len(tops) != 1:
            raise SystemExit(f"unexpected sdist layout in {sdist.name}: {sorted(tops)[:5]}")
        top = tops.pop()
        dest = corpora / top
        if dest.exists():
            shutil.rmtree(dest)
        try:
            tf.extractall(corpora, filter="data")
        except TypeError:  # Python without extraction filters
            tf.extractall(corpora)
    marker.write_text(top + "\n")
    return corpora / top


def make_work_copy(pristine: Path, cache: Path) -> Path:
    """A fresh copy to run on, so the pristine tree is never modified."""
    work = cache / "work"
    work.mkdir(parents=True, exist_ok=True)
    dest = work / pristine.name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(pristine, dest, symlinks=True)
    return dest


def snapshot(rev: str, cache: Path) -> tuple[Path, str]:
    """Exports `rev` into the cache laid out as the wheel installs it (gapcheck/analyzer, gapcheck/checks,
    gapcheck/semgrep_rules) and byte-compiled as pip installs it, without touching the repository. Returns
    (folder for PYTHONPATH, full sha)."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", rev + "^{commit}"],
                         check=True, capture_output=True, text=True).stdout.strip()
    dest = cache / "src" / sha[:12]
    if (dest / ".ok").exists():
        return dest, sha
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "gapcheck").mkdir(parents=True)
    for src, dst in (("analyzer", "analyzer"), ("checks", "checks"), ("semgrep-rules", "semgrep_rules")):
        arch = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", f"--prefix={dst}/", sha, src],
                              check=True, capture_output=True).stdout
        with tempfile.TemporaryFile() as f:
            f.write(arch)
            f.seek(0)
            with tarfile.open(fileobj=f) as tf:
                for m in tf.getmembers():  # strip the source folder name: analyzer/x.py -> dst/x.py
                    m.name = dst + m.name[len(dst) + 1 + len(src):] if m.name.startswith(f"{dst}/{src}") else m.name
                try:
                    tf.extractall(dest / "gapcheck", filter="data")
                except TypeError:
                    tf.extractall(dest / "gapcheck")
    # pip byte-compiles an installed wheel; a snapshot run without .pyc files would time the compiler on every run
    # (PYTHONDONTWRITEBYTECODE keeps Python from writing them itself)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(dest / "gapcheck")], check=True,
                   capture_output=True)
    (dest / ".ok").write_text(sha + "\n")
    return dest, sha


def changed_file(root: Path, c: Corpus) -> Path:
    """The file the one-file-changed scenario edits: the pinned one, else the median-sized .py."""
    p = root / c.changed
    if p.is_file():
        return p
    files = sorted(root.rglob("*.py"), key=lambda f: (f.stat().st_size, str(f)))
    return files[len(files) // 2]


def count_lines(root: Path) -> tuple[int, int]:
    """(files, lines) of *.py under root; lines counted like `wc -l`."""
    files = lines = 0
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            if n.endswith(".py"):
                with open(os.path.join(dirpath, n), "rb") as f:
                    lines += f.read().count(b"\n")
                files += 1
    return files, lines


# --------------------------------------------------------------------------
# Running a command while sampling the RSS of its process tree
# --------------------------------------------------------------------------

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
HAVE_PROC = Path("/proc/self/statm").exists()


def _proc_ppids() -> dict[int, int]:
    m: dict[int, int] = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        r = s.rindex(b")")
        m[int(e)] = int(s[r + 2 :].split(None, 2)[1])
    return m


def _tree(root: int, ppids: dict[int, int]) -> list[int]:
    kids: dict[int, list[int]] = {}
    for pid, pp in ppids.items():
        kids.setdefault(pp, []).append(pid)
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, ()))
    return out


def _rss_proc(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.stop_evt = threading.Event()
        self.peak = 0
        self.peak_procs = 0
        self.max_procs = 0
        self.samples = 0

    def sample(self) -> None:
        if HAVE_PROC:
            pids = _tree(self.pid, _proc_ppids())
            total = sum(_rss_proc(p) for p in pids)
        elif psutil is not None:
            try:
                root = psutil.Process(self.pid)
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                return
            pids, total = [], 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                    pids.append(p.pid)
                except psutil.Error:
                    pass
        else:
            return
        live = sum(1 for p in pids if p)
        self.samples += 1
        self.max_procs = max(self.max_procs, live)
        if total > self.peak:
            self.peak = total
            self.peak_procs = live

    def run(self) -> None:
        while not self.stop_evt.is_set():
            self.sample()
            self.stop_evt.wait(self.interval)

    def stop(self) -> None:
        self.stop_evt.set()
        self.join()


@dataclass
class RunResult:
    rc: int | None
    wall: float
    peak_rss: int  # summed over the live process tree, bytes
    peak_procs: int
    max_single_rss: int | None  # ru_maxrss of this run (largest single process), bytes
    stdout: str
    stderr: str
    timed_out: bool = False
    cpu: float | None = None  # user+sys seconds of the process tree (reaped descendants included)
    other_load: float | None = None  # cores busy with processes outside this run, on average
    settle_wait: float = 0.0  # seconds waited for the machine to go quiet before the run
    invalid: bool = False  # exited "successfully" but wrote no readable report


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy() -> float | None:
    """CPU seconds spent busy by all cores since boot (from /proc/stat), or None."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    v = [int(x) for x in fields]
    # user nice system idle iowait irq softirq steal (guest is already in user)
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / CLK_TCK


def self_cpu() -> float:
    if resource is None:
        return 0.0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def wait_until_quiet(max_wait: float, threshold: float = 0.25, window: float = 0.5) -> float:
    """Waits (at most max_wait s) until other processes use < threshold cores; returns seconds waited."""
    t0 = time.perf_counter()
    if max_wait <= 0 or machine_busy() is None:
        return 0.0
    while True:
        b0, s0, w0 = machine_busy(), self_cpu(), time.perf_counter()
        time.sleep(window)
        load = (machine_busy() - b0 - (self_cpu() - s0)) / (time.perf_counter() - w0)
        waited = time.perf_counter() - t0
        if load < threshold or waited >= max_wait:
            return waited


SETTLE = {"max_wait": 0.0}


def run_measured(argv: list[str], cwd: Path, timeout: float, env: dict | None = None) -> RunResult:
    settle = wait_until_quiet(SETTLE["max_wait"])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy0, self0 = machine_busy(), self_cpu()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )
        sampler = TreeSampler(proc.pid)
        sampler.start()
        killed = threading.Event()

        def on_timeout() -> None:
            killed.set()
            _kill_tree(proc)

        timer = threading.Timer(timeout, on_timeout)
        timer.daemon = True
        timer.start()
        max_single = cpu = None
        if hasattr(os, "wait4"):
            # wait4 gives this child's own rusage, including its reaped
            # descendants: ru_maxrss is the largest single process of the run.
            _pid, status, ru = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            max_single = ru.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
            cpu = ru.ru_utime + ru.ru_stime
        else:  # pragma: no cover
            proc.wait()
            wall = time.perf_counter() - t0
        timer.cancel()
        sampler.stop()
        other = None
        busy1 = machine_busy()
        if busy0 is not None and busy1 is not None and cpu is not None and wall > 0:
            other = max(0.0, (busy1 - busy0) - cpu - (self_cpu() - self0)) / wall
        # Orphans (a worker outliving its parent) would escape wait4; sweep them.
        _kill_group(proc.pid)
        out.seek(0)
        err.seek(0)
        return RunResult(
            rc=proc.returncode, wall=wall, peak_rss=sampler.peak, peak_procs=sampler.peak_procs,
            max_single_rss=max_single,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            timed_out=killed.is_set(), cpu=cpu, other_load=other, settle_wait=settle,
        )


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        pass


def _kill_tree(proc: subprocess.Popen) -> None:
    _kill_group(proc.pid)
    try:
        proc.kill()
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------
# Statistics of a scenario
# --------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    tool: str
    argv: list[str]  # the command of the first run (display)
    runs: list[RunResult] = field(default_factory=list)
    ok_codes: frozenset = frozenset({0})
    note: str = ""
    skipped: str = ""
    timings: list[dict] = field(default_factory=list)
    findings: list[int | None] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.runs if r.timed_out or r.invalid or r.rc not in self.ok_codes]

    @property
    def ok(self) -> bool:
        return bool(self.runs) and not self.failed and not self.skipped

    def walls(self) -> list[float]:
        return [r.wall for r in self.runs]

    def median(self) -> float | None:
        return statistics.median(self.walls()) if self.runs else None

    def cpu_median(self) -> float | None:
        vals = [r.cpu for r in self.runs if r.cpu is not None]
        return statistics.median(vals) if vals else None

    def other_load(self) -> float | None:
        vals = [r.other_load for r in self.runs if r.other_load is not None]
        return statistics.median(vals) if vals else None

    def peak_rss(self) -> int | None:
        return max((r.peak_rss for r in self.runs), default=None)

    def max_single(self) -> int | None:
        vals = [r.max_single_rss for r in self.runs if r.max_single_rss is not None]
        return max(vals) if vals else None

    def phase_medians(self) -> dict[str, float]:
        keys: dict[str, list[float]] = {}
        for t in self.timings:
            for k, v in t.items():
                if isinstance(v, (int, float)):
                    keys.setdefault(k, []).append(float(v))
        return {k: statistics.median(v) for k, v in keys.items()}

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "tool": self.tool,
            "command": REDACT.cmd(self.argv) if self.argv else "",
            "skipped": self.skipped or None,
            "note": self.note or None,
            "ok": self.ok,
            "runs": [
                {
                    "rc": r.rc,
                    "wall_s": round(r.wall, 4),
                    "peak_rss_tree_bytes": r.peak_rss,
                    "peak_rss_tree_procs": r.peak_procs,
                    "ru_maxrss_bytes": r.max_single_rss,
                    "timed_out": r.timed_out,
                    "invalid_output": r.invalid,
                    "cpu_s": _r(r.cpu),
                    "other_load_cores": _r(r.other_load, 2),
                    "settle_wait_s": _r(r.settle_wait, 1),
                }
                for r in self.runs
            ],
            "median_s": _r(self.median()),
            "min_s": _r(min(self.walls())) if self.runs else None,
            "max_s": _r(max(self.walls())) if self.runs else None,
            "cpu_median_s": _r(self.cpu_median()),
            "other_load_median_cores": _r(self.other_load(), 2),
            "peak_rss_tree_bytes": self.peak_rss(),
            "ru_maxrss_bytes": self.max_single(),
            "timings": self.timings or None,
            "phase_medians_s": {k: _r(v) for k, v in self.phase_medians().items()} or None,
            "findings": self.findings or None,
            "errors": [REDACT(_tail(r.stderr)) for r in self.failed] or None,
            **({"extra": self.extra} if self.extra else {}),
        }


def _runline(r: RunResult) -> str:
    return (f"{r.wall:7.2f} s  cpu {r.cpu if r.cpu is not None else float('nan'):7.2f} s  "
            f"rss {r.peak_rss / 2**20:6.0f} MiB  other load "
            f"{r.other_load if r.other_load is not None else float('nan'):.2f}"
            + (f"  (waited {r.settle_wait:.0f} s for quiet)" if r.settle_wait >= 1 else ""))


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


def _tail(s: str, n: int = 1500) -> str:
    return s[-n:].strip()


def parse_timings(stderr: str) -> dict | None:
    for line in reversed(stderr.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                obj = json.loads(line)
            except ValueError:
                return None
            return obj if isinstance(obj, dict) else None
        if line:
            return None
    return None


def count_findings(path: Path) -> int | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        for k in ("findings", "results", "diagnostics", "issues"):
            if isinstance(data.get(k), list):
                return len(data[k])
    return None


# --------------------------------------------------------------------------
# gapcheck scenarios
# --------------------------------------------------------------------------


class Gapcheck:
    def __init__(self, prefix: list[str], tmp: Path, timeout: float, env: dict | None = None) -> None:
        self.prefix = prefix
        self.env = env
        self.tmp = tmp
        self.timeout = timeout
        self.version = None
        self.has_timings = False
        self._n = 0

    def probe(self) -> str | None:
        """Returns None when usable, else why not."""
        try:
            r = subprocess.run(self.prefix + ["--version"], check=False, capture_output=True, text=True, timeout=120,
                               env=self.env)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"could not run: {e}"
        if r.returncode != 0:
            return REDACT(_tail(r.stderr or r.stdout, 300)) or f"--version exited {r.returncode}"
        self.version = (r.stdout or r.stderr).strip().splitlines()[-1] if (r.stdout or r.stderr).strip() else "?"
        h = subprocess.run(self.prefix + ["scan", "--help"], check=False, capture_output=True, text=True, timeout=120,
                           env=self.env)
        self.has_timings = "--timings" in h.stdout
        return None

    def fresh_dir(self, stem: str) -> Path:
        self._n += 1
        d = self.tmp / f"{stem}-{self._n}"
        d.mkdir(parents=True)
        return d

    def argv(self, paths: list[str], out: Path, cache_dir: Path, jobs: int, extra=()) -> list[str]:
        a = self.prefix + ["scan", *paths, "--format", "json", "-o", str(out),
                           "--cache-dir", str(cache_dir), "--jobs", str(jobs), *extra]
        if self.has_timings:
            a.append("--timings")
        return a

    def run(self, sc: Scenario, argv: list[str], cwd: Path, out: Path) -> RunResult:
        if not sc.argv:
            sc.argv = argv
        r = run_measured(argv, cwd, self.timeout, self.env)
        sc.runs.append(r)
        if self.has_timings:
            sc.timings.append(parse_timings(r.stderr) or {})
        n = count_findings(out)
        sc.findings.append(n)
        if n is None and r.rc in sc.ok_codes:
            # exit 1 is also what an uncaught exception gives: without a report it is a failure
            r.invalid = True
        status = "ok" if (r.rc in sc.ok_codes and not r.timed_out and not r.invalid) else f"FAILED rc={r.rc}"
        log(f"  {sc.name:<28} run {len(sc.runs)}: {_runline(r)}  {status}")
        if status != "ok":
            log("    " + REDACT(_tail(r.stderr, 600)).replace("\n", "\n    "))
        try:
            out.unlink()
        except OSError:
            pass
        return r

    def cold(self, name: str, paths: list[str], cwd: Path, runs: int, jobs: int, extra=()) -> Scenario:
        sc = Scenario(name, "gapcheck", [], ok_codes=frozenset(GAPCHECK_OK))
        for _ in range(runs):
            cache_dir = self.fresh_dir("cache")
            out = self.tmp / "out.json"
            self.run(sc, self.argv(paths, out, cache_dir, jobs, extra), cwd, out)
            shutil.rmtree(cache_dir, ignore_errors=True)
        return sc

    def fill_cache(self, paths: list[str], cwd: Path, jobs: int) -> tuple[Path, RunResult]:
        cache_dir = self.fresh_dir("cache")
        out = self.tmp / "out.json"
        r = run_measured(self.argv(paths, out, cache_dir, jobs), cwd, self.timeout, self.env)
        return cache_dir, r

    def warm(self, paths: list[str], cwd: Path, runs: int, jobs: int, cache_dir: Path) -> Scenario:
        sc = Scenario("warm", "gapcheck", [], ok_codes=frozenset(GAPCHECK_OK))
        for _ in range(runs):
            out = self.tmp / "out.json"
            self.run(sc, self.argv(paths, out, cache_dir, jobs), cwd, out)
        return sc

    def one_changed(self, paths: list[str], cwd: Path, runs: int, jobs: int, cache_dir: Path,
                    target: Path) -> Scenario:
        """Each run appends a different comment to `target`, so exactly one file
        differs from what the warm cache holds; the file is restored after."""
        sc = Scenario("one file changed", "gapcheck", [], ok_codes=frozenset(GAPCHECK_OK))
        original = target.read_bytes()
        st = target.stat()
        sc.extra["changed_file"] = str(target.relative_to(cwd))
        try:
            for i in range(runs):
                sep = b"" if original.endswith(b"\n") else b"\n"
                target.write_bytes(original + sep + f"# gapcheck-bench change {i} {time.time_ns()}\n".encode())
                out = self.tmp / "out.json"
                self.run(sc, self.argv(paths, out, cache_dir, jobs), cwd, out)
        finally:
            target.write_bytes(original)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        return sc


# --------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------


def tool_version(argv: list[str]) -> str | None:
    # semgrep --version otherwise waits for a version check over the network.
    env = dict(os.environ, SEMGREP_ENABLE_VERSION_CHECK="0")
    try:
        r = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (r.stdout or r.stderr).strip()
    if r.returncode != 0 or not text:
        return None
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return REDACT(", ".join(lines[:2]) if argv[0].endswith("pylint") else lines[0])


SEMGREP_RULES = REPO / "semgrep-rules"


def semgrep_configs() -> list[Path]:
    # Only the rule files: the annotated test files beside them are .py.
    return sorted(SEMGREP_RULES.glob("*.yaml")) + sorted(SEMGREP_RULES.glob("*.yml"))


def semgrep_argv(paths: list[str]) -> list[str]:
    a = ["semgrep", "scan"]
    for cfg in semgrep_configs():
        a += ["--config", str(cfg)]
    return a + ["--metrics=off", "--disable-version-check", "--json", "-q", *paths]


def run_peer(name: str, argv_for: callable, ok_codes: set[int], runs: int, cwd: Path, tmp: Path,
             timeout: float, skip: str = "") -> Scenario:
    exe = name.split()[0]
    sc = Scenario(name, exe, [], ok_codes=frozenset(ok_codes))
    if skip:
        sc.skipped = skip
        return sc
    if shutil.which(exe) is None:
        sc.skipped = f"{exe} is not installed"
        return sc
    for i in range(runs):
        out = tmp / f"peer-{exe}.json"
        argv = argv_for(out)
        if not sc.argv:
            sc.argv = argv
        r = run_measured(argv, cwd, timeout)
        sc.runs.append(r)
        status = "ok" if (r.rc in sc.ok_codes and not r.timed_out) else f"FAILED rc={r.rc}"
        log(f"  {name:<28} run {i + 1}: {_runline(r)}  {status}")
        if status != "ok":
            log("    " + REDACT(_tail(r.stderr or r.stdout, 600)).replace("\n", "\n    "))
        if exe == "semgrep" and r.stdout:
            try:
                data = json.loads(r.stdout)
                sc.extra["files_scanned"] = len(data.get("paths", {}).get("scanned", []) or [])
                sc.findings.append(len(data.get("results", [])))
                sc.extra["errors"] = len(data.get("errors", []))
            except ValueError:
                pass
        elif exe == "bandit":
            sc.findings.append(count_findings(out))
        elif exe in ("ruff", "pylint"):
            try:
                sc.findings.append(len(json.loads(r.stdout)))
            except ValueError:
                pass
        try:
            out.unlink()
        except OSError:
            pass
    return sc


def pylint_ok(rc: int) -> bool:
    # pylint's exit code is a bit mask; 32 = usage error. Messages (incl. the
    # syntax errors Django ships on purpose) are not failures of the run.
    return rc is not None and not (rc & 32)


def peers(paths: list[str], cwd: Path, tmp: Path, args) -> list[Scenario]:
    out: list[Scenario] = []
    fast, slow = args.peer_runs, args.slow_peer_runs
    cfgs = semgrep_configs()
    out.append(run_peer(
        "semgrep (our rules)", lambda o: semgrep_argv(paths), {0, 1}, fast, cwd, tmp, args.timeout,
        skip="" if cfgs else "no *.yaml rules in semgrep-rules/",
    ))
    out.append(run_peer(
        "ruff", lambda o: ["ruff", "check", "--isolated", "--no-cache",
                           "--select", "E722,BLE001,S110,S112,S113,S608",
                           "--output-format", "json", *paths],
        {0, 1}, fast, cwd, tmp, args.timeout,
    ))
    out.append(run_peer(
        "bandit", lambda o: ["bandit", "-r", *paths, "-f", "json", "-o", str(o), "-q"],
        {0, 1}, slow, cwd, tmp, args.timeout,
    ))
    pl = run_peer(
        "pylint", lambda o: ["pylint", "-j", str(args.jobs), "--recursive=y", "--disable=all",
                             "--enable=W0702,W0718,W3101,W0603", "--output-format=json", *paths],
        set(range(32)), slow, cwd, tmp, args.timeout,
    )
    out.append(pl)
    return out


# --------------------------------------------------------------------------
# Machine facts
# --------------------------------------------------------------------------


def machine() -> dict:
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
                break
    except OSError:
        if psutil is not None:
            mem = psutil.virtual_memory().total
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = None
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_bytes": mem,
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "rss_sampler": "/proc" if HAVE_PROC else ("psutil" if psutil else "none"),
    }


def git_rev() -> str | None:
    try:
        r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                           check=False, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return None
        rev = r.stdout.strip()
        d = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           check=False, capture_output=True, text=True, timeout=30)
        return rev + ("+dirty" if d.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def fmt_s(x: float | None) -> str:
    return "–" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def fmt_mib(b: int | None) -> str:
    return "–" if not b else f"{b / 2**20:,.0f}"


def scen_row(sc: Scenario, runs_note: str = "") -> str:
    if sc.skipped:
        return f"| {sc.name} | – | – | – | – | – | – | – | skipped: {sc.skipped} |"
    w = sc.walls()
    status = "ok" if sc.ok else "FAILED (rc " + ",".join(str(r.rc) for r in sc.failed) + ")"
    found = [f for f in sc.findings if f is not None]
    notes = [status]
    if found:
        notes.append(f"findings {found[0]}" + ("" if len(set(found)) == 1 else f" (varies: {sorted(set(found))})"))
    ph = sc.phase_medians()
    if ph:
        notes.append("phases " + ", ".join(f"{k} {v:.2f}" for k, v in ph.items()))
    ol = sc.other_load()
    if ol is not None and ol >= 0.1:
        notes.append(f"other processes busy {ol:.2f} cores (median)")
    if sc.note:
        notes.append(sc.note)
    if "files_scanned" in sc.extra:
        notes.append(f"{sc.extra['files_scanned']} files scanned")
    return (f"| {sc.name} | {len(w)}{runs_note} | **{fmt_s(sc.median())}** | {fmt_s(min(w))} | {fmt_s(max(w))} "
            f"| {fmt_s(sc.cpu_median())} "
            f"| {fmt_mib(sc.peak_rss())} | {fmt_mib(sc.max_single())} | {'; '.join(notes)} |")


def build_report(res: dict, per_corpus: list[dict], scaling: dict | None, targets: list[dict]) -> str:
    m = res["machine"]
    L = []
    L.append("# gapcheck benchmark results")
    L.append("")
    L.append("Generated by `python bench/run.py " + res["args"] + "`; see bench/README.md. "
             "Times are wall-clock seconds, median of N runs (min, max beside it). "
             "Peak RSS is summed over the live process tree (workers + semgrep), sampled every 20 ms; "
             "`ru_maxrss` is the largest single process of the run, from wait4() (cross-check). "
             "CPU s is user+sys time of the process tree (median), from wait4(). "
             f"Before each run the harness waits up to {res['settle_s']:.0f} s for other processes to go quiet; "
             "'other processes busy' is the median CPU (in cores) used outside the measured run while it ran: "
             "when it is high, the wall times are inflated by contention and CPU s is the steadier figure.")
    L.append("")
    L.append(f"- Date: {res['date']}")
    L.append(f"- Machine: {m['cores']} cores (os.cpu_count), {m['memory_bytes'] / 2**30:.1f} GiB RAM, "
             f"{m['cpu'] or '?'}, {m['os']}, Python {m['python']}")
    L.append(f"- gapcheck: {res['tools'].get('gapcheck') or 'not available'}, run from the "
             + (res["gapcheck_source"] if res["gapcheck_source"] != "working tree"
                else "working tree" + (f" at commit {res['git']}" if res.get("git") else "")))
    for t in ("semgrep", "bandit", "pylint", "ruff"):
        L.append(f"- {t}: {res['tools'].get(t) or 'not installed'}")
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target | corpus | measured | result |")
    L.append("| --- | --- | --- | --- |")
    for t in targets:
        L.append(f"| {t['target']} | {t['corpus']} | {t['measured']} | {t['result']} |")
    L.append("")
    for pc in per_corpus:
        c = pc["corpus"]
        L.append(f"## {c['title']}: {c['files']:,} .py files, {c['lines']:,} lines")
        L.append("")
        L.append("| scenario | runs | median s | min s | max s | CPU s | peak RSS tree MiB | ru_maxrss MiB | notes |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for sc in pc["gapcheck"]:
            L.append(scen_row(sc))
        if pc.get("lines_per_core") is not None:
            L.append(f"| Python pass throughput | – | **{pc['lines_per_core']:,.0f}** lines/s/core | – | – | – | – | – "
                     f"| lines / wall of `--no-semgrep` cold / jobs ({pc['jobs']})"
                     + (f"; {pc['lines_per_core_phase']:,.0f} from the `python` phase timing"
                        if pc.get("lines_per_core_phase") else "")
                     + (f"; {pc['lines_per_cpu_s']:,.0f} lines per CPU-second of the process tree"
                        if pc.get("lines_per_cpu_s") else "") + " |")
        L.append("")
        if pc["peers"]:
            L.append(f"### Peers on {c['title']}")
            L.append("")
            L.append("| tool | runs | median s | min s | max s | CPU s | peak RSS tree MiB | ru_maxrss MiB | notes |")
            L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for sc in pc["peers"]:
                L.append(scen_row(sc))
            L.append("")
            if pc["ratios"]:
                L.append("| peer | peer time / gapcheck cold time | peer CPU s / gapcheck cold CPU s |")
                L.append("| --- | --- | --- |")
                for k, v in pc["ratios"].items():
                    cr = pc["cpu_ratios"].get(k)
                    L.append(f"| {k} | {_x(v)} | {_x(cr) if cr else '–'} |")
                L.append("")
        L.append("Commands (cwd = the corpus parent, `$CACHE` = the bench cache, `$TMP` = a scratch dir):")
        L.append("")
        L.append("```")
        for sc in pc["gapcheck"] + pc["peers"]:
            if sc.argv:
                L.append(f"# {sc.name}")
                L.append(_short_cmd(sc.argv))
        L.append("```")
        L.append("")
    if scaling:
        L.append("## Scaling (cold, jobs 2)")
        L.append("")
        L.append("| scenario | runs | median s | min s | max s | CPU s | peak RSS tree MiB | ru_maxrss MiB | notes |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for sc in scaling["scenarios"]:
            L.append(scen_row(sc))
        L.append("")
        if scaling.get("deviation") is not None:
            L.append(f"Sum of medians alone: {scaling['sum']:.2f} s; together: {scaling['together']:.2f} s; "
                     f"deviation from the sum: {scaling['deviation'] * 100:+.1f}%."
                     + (f" In CPU time: {scaling['cpu_sum']:.1f} s alone vs {scaling['cpu_together']:.1f} s together, "
                        f"{scaling['cpu_deviation'] * 100:+.1f}%." if scaling.get("cpu_deviation") is not None else "")
                     + " Rounds are interleaved (Django, SQLAlchemy, both), so outside load hits all three alike.")
            L.append("")
    L.append("Semgrep configs are every `semgrep-rules/*.yaml`, each passed with its own `--config` "
             "(shown abbreviated above). Peer runs: "
             f"{res['peer_runs']} for ruff and semgrep, {res['slow_peer_runs']} for bandit and pylint.")
    L.append("")
    return "\n".join(L)


def _load_note(sc: Scenario) -> str:
    ol, cpu = sc.other_load(), sc.cpu_median()
    if ol is None or ol < 0.1:
        return ""
    return f" (CPU {cpu:.2f} s; other processes busy {ol:.1f} cores)"


def _x(v: float) -> str:
    return f"{v:.2f}x" if v < 1 else f"{v:.1f}x"


def _short_cmd(argv: list[str]) -> str:
    a = list(argv)
    n_cfg = sum(1 for x in a if x == "--config")
    if n_cfg > 1:
        out, i, put = [], 0, False
        while i < len(a):
            if a[i] == "--config":
                if not put:
                    out += ["--config", f"semgrep-rules/<each of {n_cfg}>.yaml"]
                    put = True
                i += 2
                continue
            out.append(a[i])
            i += 1
        a = out
    return REDACT.cmd(a).replace("'semgrep-rules/<each of", "semgrep-rules/<each of").replace(">.yaml'", ">.yaml")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", choices=[*CORPORA, "all"], default="django")
    ap.add_argument("--runs", type=int, default=5, help="runs per gapcheck scenario (median reported)")
    ap.add_argument("--peer-runs", type=int, default=3, help="runs for ruff and semgrep")
    ap.add_argument("--slow-peer-runs", type=int, default=1, help="runs for bandit and pylint")
    ap.add_argument("--no-peers", action="store_true", help="skip bandit, pylint, ruff, semgrep")
    ap.add_argument("--no-scaling", action="store_true", help="skip the Django+SQLAlchemy scaling scenario")
    ap.add_argument("--jobs", type=int, default=2, help="jobs for the default scenarios (and pylint -j)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before one run is killed")
    ap.add_argument("--output", default=str(REPO / "bench" / "RESULTS.md"))
    ap.add_argument("--json", dest="json_out", default=None,
                    help="JSON sidecar (default: results.json beside --output)")
    ap.add_argument("--gapcheck-cmd", default=None,
                    help="command prefix to run gapcheck (default: python -m gapcheck.analyzer)")
    ap.add_argument("--settle", type=float, default=20,
                    help="before each run, wait up to this many seconds for other processes to go quiet (0: don't)")
    ap.add_argument("--rev", default=None,
                    help="benchmark this commit (e.g. HEAD) from a snapshot instead of the working tree, "
                         "so edits in progress do not change gapcheck mid-run")
    ap.add_argument("--semgrep-rules", default=None,
                    help="folder of semgrep rule *.yaml for the semgrep scenario (default: semgrep-rules/)")
    args = ap.parse_args(argv)
    global SEMGREP_RULES
    SETTLE["max_wait"] = args.settle
    if args.semgrep_rules:
        SEMGREP_RULES = Path(args.semgrep_rules).resolve()

    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="run-", dir=cache))
    setup_redactor(cache, tmp)
    try:
        return _main(args, cache, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _main(args, cache: Path, tmp: Path) -> int:
    keys = list(CORPORA) if args.corpus == "all" else [args.corpus]
    scaling_keys = ["django", "sqlalchemy"]
    need = list(dict.fromkeys(keys + ([] if args.no_scaling else scaling_keys)))

    prefix = shlex.split(args.gapcheck_cmd) if args.gapcheck_cmd else [sys.executable, "-m", "gapcheck.analyzer"]
    env = None
    source = "working tree"
    if args.rev:
        snap, sha = snapshot(args.rev, cache)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(snap), os.environ.get("PYTHONPATH")])))
        global SEMGREP_RULES
        if not args.semgrep_rules:
            SEMGREP_RULES = snap / "gapcheck" / "semgrep_rules"
        REDACT.add(snap, f"$CACHE/src/{sha[:12]}")
        source = f"snapshot of commit {sha[:12]}"
    gc = Gapcheck(prefix, tmp, args.timeout, env)
    why_not = gc.probe()
    if why_not:
        log(f"gapcheck is not usable: {why_not}")

    tools = {
        "gapcheck": gc.version,
        "semgrep": tool_version(["semgrep", "--version"]),
        "bandit": tool_version(["bandit", "--version"]),
        "pylint": tool_version(["pylint", "--version"]),
        "ruff": tool_version(["ruff", "--version"]),
    }

    # Corpora: pristine copy in the cache, a fresh working copy to run on.
    work: dict[str, Path] = {}
    info: dict[str, dict] = {}
    for k in need:
        c = CORPORA[k]
        pristine = fetch_corpus(c, cache)
        work[k] = make_work_copy(pristine, cache)
        files, lines = count_lines(work[k])  # also warms the OS page cache
        info[k] = {"key": k, "title": c.title, "dist": c.dist, "version": c.version,
                   "dir": work[k].name, "files": files, "lines": lines}
        log(f"{c.title}: {files:,} .py files, {lines:,} lines")
    cwd = cache / "work"

    per_corpus = []
    for k in keys:
        c = CORPORA[k]
        paths = [work[k].name]
        log(f"== {c.title}")
        gsc: list[Scenario] = []
        pc = {"corpus": info[k], "gapcheck": gsc, "peers": [], "ratios": {}, "cpu_ratios": {}, "jobs": args.jobs}
        if why_not is None:
            cold = gc.cold(f"cold (jobs {args.jobs})", paths, cwd, args.runs, args.jobs)
            gsc.append(cold)
            cache_dir, fill = gc.fill_cache(paths, cwd, args.jobs)
            if fill.rc in GAPCHECK_OK:
                gsc.append(gc.warm(paths, cwd, args.runs, args.jobs, cache_dir))
                gsc.append(gc.one_changed(paths, cwd, args.runs, args.jobs, cache_dir, changed_file(work[k], c)))
            else:
                log(f"  filling the cache failed (rc {fill.rc}); skipping warm scenarios")
            shutil.rmtree(cache_dir, ignore_errors=True)
            # Test modules are left out by default; peers scan every file, so the like-for-like scan includes them.
            gsc.append(gc.cold(f"cold, tests included (jobs {args.jobs})", paths, cwd, args.runs, args.jobs,
                               extra=("--include-tests",)))
            py = gc.cold(f"Python pass only, cold, tests included (jobs {args.jobs})", paths, cwd, args.runs,
                         args.jobs, extra=("--no-semgrep", "--include-tests"))
            gsc.append(py)
            if py.ok:
                pc["lines_per_core"] = info[k]["lines"] / py.median() / args.jobs
                if py.cpu_median():
                    pc["lines_per_cpu_s"] = info[k]["lines"] / py.cpu_median()
                ph = py.phase_medians().get("python")
                if ph:
                    pc["lines_per_core_phase"] = info[k]["lines"] / ph / args.jobs
        else:
            gsc.append(Scenario("gapcheck", "gapcheck", [], skipped=f"not usable: {why_not}"))

        if not args.no_peers:
            pc["peers"] = peers(paths, cwd, tmp, args)
            base = next((s for s in gsc if s.name == f"cold, tests included (jobs {args.jobs})" and s.ok), None)
            if base:
                for p in pc["peers"]:
                    if p.ok:
                        pc["ratios"][p.name] = p.median() / base.median()
                        if p.cpu_median() and base.cpu_median():
                            pc["cpu_ratios"][p.name] = p.cpu_median() / base.cpu_median()
        else:
            # Semgrep alone is a gapcheck scenario too (our own rules).
            cfgs = semgrep_configs()
            pc["peers"] = [run_peer("semgrep (our rules)", lambda o, p=paths: semgrep_argv(p), {0, 1}, args.peer_runs,
                                    cwd, tmp, args.timeout, skip="" if cfgs else "no *.yaml rules in semgrep-rules/")]
        per_corpus.append(pc)

    scaling = None
    if not args.no_scaling and why_not is None:
        log("== scaling: Django + SQLAlchemy")
        # Interleaved (A, B, A+B per round), so load from outside hits all three alike.
        alone = {k: Scenario(f"{CORPORA[k].title} alone", "gapcheck", [], ok_codes=frozenset(GAPCHECK_OK))
                 for k in scaling_keys}
        both = Scenario("Django + SQLAlchemy together", "gapcheck", [], ok_codes=frozenset(GAPCHECK_OK))
        for _ in range(args.runs):
            for sc, paths in [*((alone[k], [work[k].name]) for k in scaling_keys),
                              (both, [work[k].name for k in scaling_keys])]:
                cache_dir = gc.fresh_dir("cache")
                out = tmp / "out.json"
                gc.run(sc, gc.argv(paths, out, cache_dir, args.jobs), cwd, out)
                shutil.rmtree(cache_dir, ignore_errors=True)
        scen = [*alone.values(), both]
        scaling = {"scenarios": scen}
        if all(s.ok for s in scen):
            total = sum(alone[k].median() for k in scaling_keys)
            scaling.update(sum=total, together=both.median(), deviation=(both.median() - total) / total)
            cpu_total = sum(alone[k].cpu_median() or 0 for k in scaling_keys)
            if cpu_total and both.cpu_median():
                scaling.update(cpu_sum=cpu_total, cpu_together=both.cpu_median(),
                               cpu_deviation=(both.cpu_median() - cpu_total) / cpu_total)

    # ---------------- targets ----------------
    targets = []

    def add(key, corpus, measured, passed):
        targets.append({"key": key, "target": TARGETS_TEXT[key], "corpus": corpus, "measured": measured,
                        "result": "n/a" if passed is None else ("PASS" if passed else "FAIL")})

    for pc in per_corpus:
        title = pc["corpus"]["title"]
        g = {s.name: s for s in pc["gapcheck"]}
        cold = g.get(f"cold (jobs {args.jobs})")
        if cold is None or not cold.ok:
            add("cold", title, "no successful run", None)
            continue
        add("cold", title, f"{cold.median():.2f} s{_load_note(cold)}", cold.median() <= 7)
        every = g.get(f"cold, tests included (jobs {args.jobs})")
        add("cold_all", title, f"{every.median():.2f} s{_load_note(every)}" if every and every.ok else "not run",
            (every.median() <= 10) if every and every.ok else None)
        for peer, factor, key in (("bandit", 5, "bandit"), ("pylint", 10, "pylint")):
            r = pc["ratios"].get(peer)
            add(key, title, f"{r:.1f}x" if r else "peer not run", (r >= factor) if r else None)
        w = g.get("warm")
        add("warm", title, f"{w.median():.2f} s{_load_note(w)}" if w and w.ok else "not run",
            (w.median() <= 0.5) if w and w.ok else None)
        o = g.get("one file changed")
        add("one_changed", title, f"{o.median():.2f} s{_load_note(o)}" if o and o.ok else "not run",
            (o.median() <= 0.8) if o and o.ok else None)
        peak = max((s.peak_rss() or 0) for s in pc["gapcheck"])
        add("rss", title, f"{peak / 2**20:,.0f} MiB (max over gapcheck scenarios)", peak <= 10**9)
        lpc = pc.get("lines_per_core")
        add("lines_per_core", title, f"{lpc:,.0f}" if lpc else "not run", (lpc >= 40_000) if lpc else None)
    if scaling is not None:
        dev = scaling.get("deviation")
        cdev = scaling.get("cpu_deviation")
        add("scaling", "Django + SQLAlchemy",
            (f"{dev * 100:+.1f}% wall" + (f" ({cdev * 100:+.1f}% CPU)" if cdev is not None else ""))
            if dev is not None else "a run failed",
            (abs(dev) <= 0.15) if dev is not None else None)

    res = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "args": " ".join(shlex.quote(a) for a in sys.argv[1:]) or "(defaults)",
        "machine": machine(),
        "tools": tools,
        "git": git_rev(),
        "gapcheck_source": source,
        "peer_runs": args.peer_runs,
        "slow_peer_runs": args.slow_peer_runs,
        "rss_sample_interval_s": 0.02,
        "settle_s": args.settle,
    }
    report = REDACT(build_report(res, per_corpus, scaling, targets))
    # the harness's own children, all runs together (getrusage cross-check)
    if resource is not None:
        res["ru_maxrss_children_all_runs_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * (
            1 if sys.platform == "darwin" else 1024)
    doc = {
        **res,
        "corpora": {k: info[k] for k in need},
        "results": [
            {"corpus": pc["corpus"]["key"], "gapcheck": [s.to_json() for s in pc["gapcheck"]],
             "peers": [s.to_json() for s in pc["peers"]],
             "ratios_peer_over_gapcheck_cold": {k: round(v, 2) for k, v in pc["ratios"].items()},
             "cpu_ratios_peer_over_gapcheck_cold": {k: round(v, 2) for k, v in pc["cpu_ratios"].items()},
             "lines_per_cpu_s_python_pass": _r(pc.get("lines_per_cpu_s"), 0),
             "lines_per_s_per_core": _r(pc.get("lines_per_core"), 0),
             "lines_per_s_per_core_python_phase": _r(pc.get("lines_per_core_phase"), 0)}
            for pc in per_corpus
        ],
        "scaling": None if scaling is None else {
            "scenarios": [s.to_json() for s in scaling["scenarios"]],
            "sum_alone_s": _r(scaling.get("sum")), "together_s": _r(scaling.get("together")),
            "deviation": _r(scaling.get("deviation"), 4),
            "cpu_deviation": _r(scaling.get("cpu_deviation"), 4),
        },
        "targets": targets,
    }
    print(report)
    outp = Path(args.output)
    outp.parent.mkdir(parents=True, exist_ok=True)
    outp.write_text(report, encoding="utf-8")
    jpath = Path(args.json_out) if args.json_out else outp.with_name("results.json")
    jpath.write_text(REDACT(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n", encoding="utf-8")
    log(f"wrote {REDACT(str(outp.resolve()))} and {REDACT(str(jpath.resolve()))}")
    failed = any(not s.ok and not s.skipped for pc in per_corpus for s in pc["gapcheck"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
