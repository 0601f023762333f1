"""`--diff REF`: only findings on lines added or changed since the ref, in real temporary git repositories."""
from __future__ import annotations

import json
import shutil

import pytest
from gapcheck.analyzer.gitdiff import parse_diff

from .conftest import REPO
from .gitrepo import GitRepo

SWALLOW = "def {name}():\n    try:\n        work()\n    except Exception:\n        pass\n"


def handler(name: str) -> str:
    return SWALLOW.format(name=name)


@pytest.fixture
def repo(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.write("app.py", handler("load"))
    repo.write("pkg/jobs.py", handler("run"))
    repo.commit("base")
    return repo


def diff_scan(gapcheck, repo, ref, *args, cwd=None):
    run = gapcheck("scan", "--no-semgrep", "--format", "json", "--diff", ref, *args, cwd=cwd or repo.root)
    assert run.exit_code in (0, 1), run.stderr
    doc = json.loads(run.stdout)
    return run, [(f["path"], f["line"]) for f in doc["findings"]], doc["summary"]


def test_only_new_findings_on_a_branch(gapcheck, repo):
    repo.git("switch", "-q", "-c", "feature")
    repo.write("app.py", "import logging\n\n" + handler("load") + "\n\n" + handler("save"))
    repo.commit("add save")
    run, found, summary = diff_scan(gapcheck, repo, "main")
    assert run.exit_code == 1
    assert found == [("app.py", 13)]  # the moved `load` handler is not a change; pkg/jobs.py is untouched
    assert summary["hidden"] == {"diff": 2}
    text = gapcheck("scan", "--no-semgrep", "--diff", "main", cwd=repo.root)
    assert text.stdout.splitlines()[-1] == "Found 1 finding in 2 of 2 files; 2 on unchanged lines not shown."


def test_uncommitted_and_untracked_changes_count(gapcheck, repo):
    repo.write("pkg/jobs.py", handler("run") + "\n\n" + handler("retry"))
    repo.write("new_module.py", handler("fresh"))  # untracked: every line is new
    _, found, _ = diff_scan(gapcheck, repo, "HEAD")
    assert found == [("new_module.py", 4), ("pkg/jobs.py", 11)]


def test_detached_head(gapcheck, repo):
    repo.git("switch", "-q", "--detach")
    repo.write("app.py", handler("load") + "\n\n" + handler("save"))
    repo.commit("on a detached head, as in a pull request checkout")
    _, found, _ = diff_scan(gapcheck, repo, "main")
    assert found == [("app.py", 11)]


def test_pull_request_merge_commit(gapcheck, repo):
    """actions/checkout checks out a merge of the PR into the base branch, on a detached HEAD."""
    base = repo.git("rev-parse", "HEAD").strip()
    repo.git("switch", "-q", "-c", "pr")
    repo.write("pkg/jobs.py", handler("run") + "\n\n" + handler("sync"))
    repo.commit("pr change")
    repo.git("switch", "-q", "main")
    repo.write("README.txt", "docs\n")
    repo.commit("main moves on")
    repo.git("switch", "-q", "--detach")
    repo.git("merge", "-q", "--no-ff", "--no-edit", "pr")
    _, found, _ = diff_scan(gapcheck, repo, "main")
    assert found == [("pkg/jobs.py", 11)]
    _, found, _ = diff_scan(gapcheck, repo, base)
    assert found == [("pkg/jobs.py", 11)]


def test_changes_only_on_the_base_branch_are_not_reported(gapcheck, repo):
    """The comparison starts at the merge base: lines main changed after the branch left are not the branch's."""
    repo.git("switch", "-q", "-c", "feature")
    repo.write("feature.py", "VALUE = 1\n")
    repo.commit("feature work")
    repo.git("switch", "-q", "main")
    repo.write("app.py", handler("load").replace("except Exception:\n        pass", "except OSError:\n        raise"))
    repo.commit("main fixes app.py")
    repo.git("switch", "-q", "feature")
    _, found, _ = diff_scan(gapcheck, repo, "main")
    assert found == []


def test_renamed_files(gapcheck, repo):
    body = "".join(f"def step_{i}(x):\n    return x + {i}\n\n\n" for i in range(12))
    repo.write("app.py", body + handler("load"))
    repo.commit("a longer module")
    repo.git("switch", "-q", "-c", "feature")
    repo.git("mv", "app.py", "loader.py")
    repo.commit("pure rename")
    _, found, _ = diff_scan(gapcheck, repo, "main")
    assert found == []
    repo.write("loader.py", (repo.root / "loader.py").read_text(encoding="utf-8") + "\n\n" + handler("save"))
    repo.commit("then an edit")
    _, found, _ = diff_scan(gapcheck, repo, "main")
    assert found == [("loader.py", 59)]


def test_lines_deleted_inside_a_finding_count(gapcheck, repo):
    repo.write("fetch.py", "import urllib.request as ur\n\n\ndef fetch(url):\n    return ur.urlopen(\n        url,\n"
                           "        timeout=10,\n    )\n")
    repo.commit("fetch with a timeout")
    repo.write("fetch.py", (repo.root / "fetch.py").read_text(encoding="utf-8").replace("        timeout=10,\n", ""))
    _, found, _ = diff_scan(gapcheck, repo, "HEAD", "--select", "GAP402")
    assert found == [("fetch.py", 5)]


def test_cross_file_finding_is_reported_on_its_changed_line(gapcheck, tmp_path):
    """GAP301 through a helper in another file: reported when the loop line changes, not when only the helper does."""
    repo = GitRepo(tmp_path / "shop")
    shutil.copytree(REPO / "fixtures" / "n-plus-one" / "query-in-loop", repo.root / "shop")
    views = repo.root / "shop" / "views.py"
    lines = views.read_text(encoding="utf-8").splitlines(keepends=True)
    loop_line = next(i for i, line in enumerate(lines, 1) if "out.append(get_price(product.id))" in line)
    repo.commit("shop")
    _, found, _ = diff_scan(gapcheck, repo, "HEAD", "--select", "GAP301")
    assert found == []
    pricing = repo.root / "shop" / "pricing.py"
    pricing.write_text(pricing.read_text(encoding="utf-8") + "\n# helper touched\n", encoding="utf-8")
    _, found, _ = diff_scan(gapcheck, repo, "HEAD", "--select", "GAP301")
    assert found == []
    lines[loop_line - 1] = lines[loop_line - 1].replace("product.id", "product.pk")
    views.write_text("".join(lines), encoding="utf-8")
    _, found, _ = diff_scan(gapcheck, repo, "HEAD", "--select", "GAP301")
    assert found == [("shop/views.py", loop_line)]


def test_run_from_a_subfolder(gapcheck, repo):
    repo.write("pkg/jobs.py", handler("run") + "\n\n" + handler("retry"))
    _, found, _ = diff_scan(gapcheck, repo, "HEAD", cwd=repo.root / "pkg")
    assert found == [("jobs.py", 11)]


def test_outside_a_git_repository(gapcheck, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "app.py").write_text(handler("load"), encoding="utf-8")
    run = gapcheck("scan", "--no-semgrep", "--diff", "main", cwd=folder, env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert run.exit_code == 2 and run.stdout == ""
    assert "is not inside a git work tree" in run.stderr


@pytest.mark.parametrize("ref", ["no-such-branch", "HEAD~5", "--output=x"])
def test_unknown_ref(gapcheck, repo, ref):
    run = gapcheck("scan", "--no-semgrep", "--diff", ref, cwd=repo.root)
    assert run.exit_code == 2 and run.stdout == ""
    assert f"--diff {ref}:" in run.stderr
    assert not (repo.root / "x").exists()


def test_parse_diff_hunks_renames_deletions_and_quoted_names():
    text = "\n".join([
        "diff --git a/old.py b/new.py",
        "similarity index 90%",
        "rename from old.py",
        "rename to new.py",
        "--- a/old.py",
        "+++ b/new.py",
        "@@ -3 +3 @@ x",
        "@@ -10,2 +10,3 @@",
        "@@ -20,2 +21,0 @@",
        "diff --git a/gone.py b/gone.py",
        "--- a/gone.py",
        "+++ /dev/null",
        "@@ -1,4 +0,0 @@",
        'diff --git "a/we\\tird.py" "b/we\\tird.py"',
        '+++ "b/we\\tird.py"',
        "@@ -0,0 +1 @@",
        "diff --git a/caf\u00e9.py b/caf\u00e9.py",
        "+++ b/caf\u00e9.py",
        "@@ -1 +1,2 @@",
    ])
    files = parse_diff(text)
    assert set(files) == {"new.py", "we\tird.py", "caf\u00e9.py"}
    assert files["new.py"].lines == {3, 10, 11, 12} and files["new.py"].deletions == {21}
    assert files["new.py"].touches(20, 22) and not files["new.py"].touches(21, 21)
    assert files["we\tird.py"].lines == {1}
    assert files["caf\u00e9.py"].lines == {1, 2}
