"""The Semgrep rules' prefilters (`Rule.prefilter`): a superset of what each rule's YAML can match, so that a file
they keep from Semgrep never had a finding. Each test here fails if a prefilter rejects a file Semgrep matches."""
from __future__ import annotations

import re
import shutil
from contextlib import contextmanager

import pytest

from gapcheck.analyzer import semgrep as semgrep_runner
from gapcheck.analyzer.registry import Rule, load_rules

from .conftest import REPO, ruleid_cases

needs_semgrep = pytest.mark.skipif(shutil.which("semgrep") is None,
                                   reason="semgrep is a dependency; installed with the package")


def filtered_rules() -> list[Rule]:
    return [r for r in load_rules() if r.semgrep and r.prefilter is not None]


def passes(rule: Rule, data: bytes) -> bool:
    test = rule.prefilter
    return bool(test.search(data) if isinstance(test, re.Pattern) else test(data))


@contextmanager
def without_prefilters():
    """Every rule as it would be with its words alone."""
    saved = {r: r.prefilter for r in load_rules() if r.prefilter is not None}
    try:
        for rule in saved:
            object.__setattr__(rule, "prefilter", None)  # Rule is frozen
        yield
    finally:
        for rule, test in saved.items():
            object.__setattr__(rule, "prefilter", test)


def test_some_rules_have_a_prefilter():
    assert {r.id for r in filtered_rules()} >= {"GAP401", "GAP803", "GAP804", "GAP805", "GAP806", "GAP808", "GAP809",
                                                "GAP810", "GAP811"}


@pytest.mark.parametrize("rule", filtered_rules(), ids=lambda r: r.id)
def test_every_ruleid_case_passes_its_rules_prefilter(rule):
    cases = ruleid_cases(rule.name)
    assert cases, f"{rule.id}: its test file has no ruleid case"
    for body in cases:
        assert passes(rule, body.encode()), f"{rule.id}: the prefilter rejects a case:\n{body[-400:]}"


# Shapes that Semgrep matches although the obvious text is not there: constants it propagates and folds, tuple
# targets, comparisons split over lines, import aliases. Each prefilter must admit all of them.
HARD_CASES: dict[str, list[str]] = {
    "GAP805": [
        'PART = "sk-proj-"\nWHOLE = PART + "Xq2Lm9Vt4Rk7Wc1Hs8Np3Bd6"\n',
        'A_TOKEN = "abcdefgh" + "12345678ijkl"\n',
        'B_TOKEN = ("abcdefgh"  # first half\n           "12345678ijkl")\n',
        "E_TOKEN = 'abcdefgh\\\n12345678ijkl'\n",
        'def f():\n    k = "ab12cdefgh34567890"\n    call(secret=k)\n',
        'Q = "ab12cdef"\nA_TOKEN = f"{Q}{Q}{Q}"\n',
        'Q = "ab12cdef"\nT = Q\nT += Q\nT += Q\ncall(api_key=T)\n',
        'A = "abcd1234"\nB = "efgh5678"\nSECRET_KEY = (A) + (B)\n',
        'x = "ghp_" + "abcdefghijklmnopqrstuvwxyz0123456789"\n',
        'client(token="""abcdefgh12345678ijkl""")\n',
        'A_TOKEN = "abcd1234" + \\\n    "efgh5678"\n',
    ],
    "GAP806": [
        "import flask\napp = flask.Flask(__name__)\napp.run(debug  # x\n   =True)\n",
        "DEBUG, X = True, 1\nALLOWED_HOSTS = []\n",
        "DEBUG: bool = True\nALLOWED_HOSTS = []\n",
        "FLAG = True\nDEBUG = FLAG\nALLOWED_HOSTS = []\n",
        'import flask\napp = flask.Flask(__name__)\nK = "DEBUG"\napp.config[K] = True\n',
        "import flask\napp = flask.Flask(__name__)\napp.debug, y = True, 2\n",
        'import flask\napp = flask.Flask(__name__)\napp.config[\n  "DEBUG"  # c\n] = True\n',
        "(DEBUG) = True\nALLOWED_HOSTS = []\n",
        "DEBUG=True;ALLOWED_HOSTS = []\n",
    ],
    "GAP811": [
        "def f(a, token):\n    if (\n        a\n        == token\n    ):\n        pass\n",
        "def f(a, token):\n    if (token  # the token\n        != a):\n        pass\n",
        "def f(a, b):\n    return a == \\\n        b.api_key\n",
        'def f(request, b):\n    return b != request.headers["X-Api-Key"]\n',
        "import hashlib\ndef f(body, x):\n    return x == hashlib.sha256(\n        body,\n    ).hexdigest()\n",
        "import hashlib\ndef f(body, x):\n    return hashlib.sha256(body).digest ( ) == x\n",
        "def f(a, b):\n    return a == -b.token\n",
        "def f(a, b):\n    return a.tOkEn == b\n",
        "def f(a, b):\n    return a.mac_digest == b\n",
    ],
    "GAP803": [
        "import hashlib\ndef f(pw):\n    return hashlib.sha256(pw).hexdigest()\n",
        "from hashlib import sha1 as s\ndef f(user):\n    return s(user.Passphrase)\n",
        'import hashlib\ndef f(user):\n    return hashlib.new("md5", user.PWD)\n',
    ],
    "GAP401": [
        'import requests as rq\nrq.get("http://x")\n',
        'from requests import get as g\ng("http://x")\n',
        'import os, \\\n    requests\nrequests.post("http://x")\n',
        'def f(requests):\n    requests.get("http://x")\n',
        'from requests import (\n    get,\n)\nget("http://x")\n',
        'import requests\n(requests\n  .get)("http://x")\n',
    ],
    "GAP804": [
        'from random import (\n    randint,\n)\ntoken = randint(1, 9)\n',
        "from numpy import random\ntoken = random.randint(0, 9)\n",
        'def f(random):\n    token = random.choice("ab")\n',
    ],
    "GAP809": [
        'from flask import request\nfrom urllib import (\n    parse,\n    request as ur,\n)\n'
        'def f():\n    return ur.urlopen(request.args["u"])\n',
        'from flask import request\nimport urllib\ndef f():\n    return urllib.request.Request(request.args["u"])\n',
        'from flask import request\nfrom aiohttp import ClientSession\nasync def f():\n'
        '    async with ClientSession() as c:\n        return await c.get(request.args["u"])\n',
        'from flask import request\nfrom requests import Session\ndef f():\n    s = Session()\n'
        '    return s.post(request.form["u"])\n',
    ],
    "GAP810": [
        'from flask import request\nfrom os.path import join as j\ndef f():\n    return j("/base", request.args["p"])\n',
        'from flask import request\nfrom pathlib import Path as P\ndef f():\n    return P("/base", request.args["p"])\n',
        'from flask import request\nBASE_DIR = "/srv"\ndef f():\n    return BASE_DIR / request.args["p"]\n',
        "from flask import request\ndef f(upload_root):\n    return f\"{upload_root / request.args['p']}\"\n",
        'from flask import request\nfrom os import remove as rm\ndef f():\n    rm(request.args["p"])\n',
        'from flask import request\nfrom io import open as o\ndef f():\n    return o(request.args["p"])\n',
        'from flask import request\ndef f(media_dir):\n    return (media_dir\n            / request.args["p"])\n',
        'from flask import request\ndef f(media_dir):\n    print "x"\n    return media_dir / request.args["p"]\n',
    ],
    "GAP808": [
        'import subprocess\ndef f(x):\n    subprocess.run("ls %s" % x, shell = True)\n',
        'import subprocess\nON = True\ndef f(x):\n    subprocess.call("ls " + x, shell=ON)\n',
        'from asyncio import create_subprocess_shell as sh\nasync def f(x):\n    await sh(f"ls {x}")\n',
        'import os\ndef f(x):\n    os.system ("ls " + x)\n',
        'import subprocess\ndef f(x):\n    subprocess.Popen("ls %s" % x,\n                     shell  # c\n'
        '                     =True)\n',
    ],
}


@needs_semgrep
def test_prefilters_admit_what_semgrep_matches_in_hard_cases(tmp_path):
    rules = {r.id: r for r in load_rules() if r.semgrep}
    targets: dict[str, list[str]] = {}
    for rule_id, cases in HARD_CASES.items():
        for n, body in enumerate(cases):
            name = f"case_{rule_id}_{n}.py"
            (tmp_path / name).write_text(body, encoding="utf-8")
            targets.setdefault(rule_id, []).append(name)
    run = semgrep_runner.start(targets, list(rules.values()), cwd=str(tmp_path))
    outcome = run.wait()
    assert not outcome.failed, outcome.notifications
    matched: dict[str, set[str]] = {}
    for path, findings in outcome.findings.items():
        for finding in findings:
            matched.setdefault(finding.rule_id, set()).add(path)
    for rule_id in HARD_CASES:
        assert matched.get(rule_id), f"{rule_id}: Semgrep matched none of its hard cases: the list is stale"
        for path in sorted(matched[rule_id]):
            data = (tmp_path / path).read_bytes()
            assert passes(rules[rule_id], data), f"{rule_id}: the prefilter rejects a file Semgrep matches:\n" + \
                data.decode()


@needs_semgrep
def test_the_prefilters_keep_every_finding_on_the_fixtures_and_the_rule_tests(monkeypatch):
    from gapcheck.analyzer.config import load_settings
    from gapcheck.analyzer.engine import scan

    sent: dict[str, int] = {}
    real_start = semgrep_runner.start

    def counting_start(targets, rules, **kwargs):
        sent[mode] = sum(len(files) for files in targets.values())
        return real_start(targets, rules, **kwargs)

    monkeypatch.setattr(semgrep_runner, "start", counting_start)
    found = {}
    for mode in ("with", "without"):
        settings = load_settings(["fixtures", "semgrep-rules"], None, cwd=REPO)
        settings.cache = False
        settings.include_tests = True
        if mode == "with":
            result = scan(settings)
        else:
            with without_prefilters():
                result = scan(settings)
        assert not result.semgrep_failed, result.notifications
        found[mode] = sorted((f.path, f.line, f.column, f.end_line, f.end_column, f.rule_id, f.message)
                             for f in result.findings if f.source == "semgrep")
    assert found["with"] == found["without"] and len(found["with"]) > 50
    # the comparison means something: the prefilters kept some (rule, file) pairs the words admit from Semgrep
    assert sent["with"] < sent["without"], sent


def test_module_used_finds_the_module_only_where_semgrep_could_resolve_it():
    used = semgrep_runner.module_used("requests", ("get", "Session"))
    for text in (b"import requests", b"import os, requests", b"import os, \\\n    requests", b"from requests import get",
                 b"from requests.adapters import HTTPAdapter", b"requests.get(url)", b"requests . Session()",
                 b"(requests\n  .get)(url)"):
        assert used.search(text), text
    for text in (b"# handle many requests.\nx = 1", b"get_requests_count()", b'"""All requests. """',
                 b"requests = []\nrequests.append(1)"):
        assert not used.search(text), text


def test_has_division_reads_code_not_strings_or_comments():
    assert semgrep_runner.has_division(b"x = base / name\n")
    assert semgrep_runner.has_division(b"x //= 2\n")
    assert semgrep_runner.has_division(b'x = f"{base / name}"\n')
    assert not semgrep_runner.has_division(b'url = "https://example.com/a/b"  # and/or\n"""a/b"""\n')
    assert not semgrep_runner.has_division(b"x = 1\n")
    assert semgrep_runner.has_division(b'print "a/b"\n')  # Python cannot parse it: Semgrep may, so it passes


def test_a_path_method_sink_alone_is_enough_for_the_path_rule():
    """`(UPLOADS / request.args["f"]).read_text()` with UPLOADS imported: no `open` or `path` in the file, yet a
    sink; the words must let it through to Semgrep."""
    rule = next(r for r in load_rules() if r.id == "GAP810")
    data = (b"from flask import request\nfrom .config import UPLOADS\n\n\n@app.get('/f')\ndef read_upload():\n"
            b"    return (UPLOADS / request.args['name']).read_text()\n")
    assert rule.may_apply(data)
    assert not rule.may_apply(data.replace(b".read_text()", b".name"))
