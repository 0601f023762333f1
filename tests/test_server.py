"""`gapcheck server` driven the way an editor drives it: a real process on stdin/stdout, one per module."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from gapcheck.analyzer.config import load_settings
from gapcheck.analyzer.registry import get_rule
from gapcheck.analyzer.server import UNSAFE_PREFIX, text_edit
from gapcheck.analyzer.single import TextAnalyser
from gapcheck.analyzer.source import split_lines

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Every wait is bounded, so a server that never answers fails the test instead of hanging it.
TIMEOUT = 15.0
SWALLOW = "def load():\n    try:\n        work()\n    except Exception:\n        pass\n"
HANDLED = "def load():\n    try:\n        work()\n    except KeyError:\n        return None\n"
# The finding's line starts with non-ASCII text: "😀" is one character but two UTF-16 code units.
THUMBNAIL = (
    "import subprocess\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
    "@app.post(\"/thumbnail\")\ndef thumbnail(src: str):\n"
    "    label = \"café 😀\"; subprocess.run([\"convert\", src, \"out.png\"], check=True)\n"
    "    return {\"label\": label}\n"
)
CONFIG = '[tool.gapcheck]\nsemgrep = false\ncache-dir = ".gc-cache"\n'


def recording_client() -> LanguageClient:
    """pytest-lsp's client, keeping every publishDiagnostics (with its version) instead of only the last."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # type: ignore[attr-defined]
    client.arrived = asyncio.Event()  # type: ignore[attr-defined]

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)  # type: ignore[attr-defined]
        client.arrived.set()  # type: ignore[attr-defined]

    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish})
    return client


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "gapcheck.analyzer", "server"],
                              client_factory=recording_client),
)
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    await lsp_client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)))))
    yield
    await lsp_client.shutdown_session()


async def published(client: LanguageClient, uri: str,
                    wanted: Callable[[types.PublishDiagnosticsParams], bool]) -> list[types.Diagnostic]:
    """The diagnostics of the first publish for `uri` that `wanted` accepts, waiting for it if need be."""

    async def wait() -> list[types.Diagnostic]:
        while True:
            for params in client.published:  # type: ignore[attr-defined]
                if params.uri == uri and wanted(params):
                    return list(params.diagnostics)
            client.arrived.clear()  # type: ignore[attr-defined]
            await client.arrived.wait()  # type: ignore[attr-defined]

    return await asyncio.wait_for(wait(), TIMEOUT)


async def diagnostics_at(client: LanguageClient, uri: str, version: int) -> list[types.Diagnostic]:
    return await published(client, uri, lambda p: p.version == version)


def project(root: Path, files: dict[str, str], config: str = CONFIG) -> dict[str, str]:
    (root / "pyproject.toml").write_text(config, encoding="utf-8")
    uris = {}
    for name, text in files.items():
        path = root / name
        path.write_text(text, encoding="utf-8")
        uris[name] = path.as_uri()
    return uris


def open_doc(client: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))


def replace_all(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def span(diag: types.Diagnostic) -> tuple[int, int, int, int]:
    r = diag.range
    return r.start.line, r.start.character, r.end.line, r.end.character


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply single-line UTF-16 edits the way an editor would (enough for the edits these tests expect)."""
    lines = text.split("\n")
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        assert edit.range.start.line == edit.range.end.line
        units = lines[edit.range.start.line].encode("utf-16-le")
        start, end = edit.range.start.character * 2, edit.range.end.character * 2
        lines[edit.range.start.line] = (units[:start] + edit.new_text.encode("utf-16-le") + units[end:]).decode(
            "utf-16-le")
    return "\n".join(lines)


def only_edits(action: types.CodeAction, uri: str, version: int) -> list[types.TextEdit]:
    assert action.edit is not None and action.edit.document_changes
    (change,) = action.edit.document_changes
    assert change.text_document.uri == uri and change.text_document.version == version
    return list(change.edits)


async def test_open_publishes_the_finding_with_rule_range_and_docs_link(client: LanguageClient, tmp_path: Path) -> None:
    uris = project(tmp_path, {"app.py": SWALLOW})
    open_doc(client, uris["app.py"], SWALLOW)
    (diag,) = await diagnostics_at(client, uris["app.py"], 1)
    assert diag.code == "GAP501" and diag.source == "gapcheck"
    assert span(diag) == (3, 4, 3, 20)  # `except Exception`, 0-based
    assert diag.severity == types.DiagnosticSeverity.Warning
    assert diag.code_description.href == get_rule("GAP501").help_uri
    assert "drops it" in diag.message


async def test_columns_count_utf16_code_units(client: LanguageClient, tmp_path: Path) -> None:
    uris = project(tmp_path, {"thumbs.py": THUMBNAIL})
    open_doc(client, uris["thumbs.py"], THUMBNAIL)
    (diag,) = await diagnostics_at(client, uris["thumbs.py"], 1)
    assert diag.code == "GAP404"
    # 22 characters precede `subprocess.run(`; the emoji among them is two UTF-16 units, so it starts at 23.
    assert span(diag) == (9, 23, 9, 78)


async def test_the_buffer_is_analysed_not_the_file_and_a_fix_clears_it(client: LanguageClient, tmp_path: Path) -> None:
    uris = project(tmp_path, {"app.py": HANDLED})  # clean on disk: only the buffer has the gap
    uri = uris["app.py"]
    open_doc(client, uri, SWALLOW)
    assert [d.code for d in await diagnostics_at(client, uri, 1)] == ["GAP501"]
    for version in (2, 3, 4):  # typing: only the last version's result may be published
        replace_all(client, uri, HANDLED if version == 4 else SWALLOW + "#" * version, version)
    assert await diagnostics_at(client, uri, 4) == []
    assert not any(p.uri == uri and p.version in (2, 3) for p in client.published)  # type: ignore[attr-defined]


async def test_while_the_buffer_does_not_parse_the_last_findings_stay(client: LanguageClient, tmp_path: Path) -> None:
    uri = project(tmp_path, {"app.py": SWALLOW})["app.py"]
    open_doc(client, uri, SWALLOW)
    (before,) = await diagnostics_at(client, uri, 1)
    replace_all(client, uri, "import os\n" + SWALLOW + "def half_typed(:\n", 2)
    (during,) = await diagnostics_at(client, uri, 2)
    assert during.code == "GAP501" and span(during) == (4, 4, 4, 20)  # moved down with its line
    replace_all(client, uri, HANDLED, 3)
    assert await diagnostics_at(client, uri, 3) == []


async def test_a_suppression_comment_in_the_buffer_clears_the_finding(client: LanguageClient, tmp_path: Path) -> None:
    uri = project(tmp_path, {"app.py": SWALLOW})["app.py"]
    open_doc(client, uri, SWALLOW)
    assert len(await diagnostics_at(client, uri, 1)) == 1
    replace_all(client, uri, SWALLOW.replace("except Exception:", "except Exception:  # gapcheck: ignore[GAP501]"), 2)
    assert await diagnostics_at(client, uri, 2) == []


async def test_settings_come_from_pyproject_and_are_reread_when_it_changes(client: LanguageClient, tmp_path: Path) -> None:
    config = (CONFIG + 'extend-exclude = ["generated"]\n[tool.gapcheck.severity]\nGAP501 = "error"\n'
              '[tool.gapcheck.per-file-ignores]\n"jobs/*" = ["GAP5"]\n')
    (tmp_path / "jobs").mkdir()
    (tmp_path / "generated").mkdir()
    uris = project(tmp_path, {"app.py": SWALLOW, "jobs/nightly.py": SWALLOW, "generated/client.py": SWALLOW}, config)
    for name in uris:
        open_doc(client, uris[name], SWALLOW)
    (diag,) = await diagnostics_at(client, uris["app.py"], 1)
    assert diag.severity == types.DiagnosticSeverity.Error
    assert await diagnostics_at(client, uris["jobs/nightly.py"], 1) == []
    assert await diagnostics_at(client, uris["generated/client.py"], 1) == []

    (tmp_path / "pyproject.toml").write_text(CONFIG + 'ignore = ["GAP501"]\n', encoding="utf-8")
    replace_all(client, uris["app.py"], SWALLOW + "\n", 2)
    assert await diagnostics_at(client, uris["app.py"], 2) == []


async def test_an_invalid_config_is_reported_and_nothing_is_published(client: LanguageClient, tmp_path: Path) -> None:
    uri = project(tmp_path, {"app.py": SWALLOW}, CONFIG + "selcet = [\"GAP5\"]\n")["app.py"]
    open_doc(client, uri, SWALLOW)
    assert await diagnostics_at(client, uri, 1) == []
    assert any("unknown key(s) 'selcet'" in m.message and m.type == types.MessageType.Error for m in client.messages)


async def test_ignore_action_adds_a_comment_or_extends_the_one_there(client: LanguageClient, tmp_path: Path) -> None:
    text = SWALLOW + "\n\ndef save():\n    try:\n        work()\n    except:  # gapcheck: ignore[GAP502]\n        pass\n"
    uri = project(tmp_path, {"app.py": text})["app.py"]
    open_doc(client, uri, text)
    diags = await diagnostics_at(client, uri, 1)
    by_line = {d.range.start.line: d for d in diags if d.code == "GAP501"}
    assert sorted(by_line) == [3, 10]
    ignored = []
    for line, diag in sorted(by_line.items()):
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag])))
        (action,) = [a for a in actions if a.title.startswith("Ignore GAP501")]
        assert action.kind == types.CodeActionKind.QuickFix
        ignored.append(apply(text, only_edits(action, uri, 1)).split("\n")[line])
    assert ignored == ["    except Exception:  # gapcheck: ignore[GAP501]",
                       "    except:  # gapcheck: ignore[GAP502, GAP501]"]


async def test_hover_on_a_finding_shows_what_explain_prints(client: LanguageClient, tmp_path: Path, gapcheck) -> None:
    uri = project(tmp_path, {"app.py": SWALLOW})["app.py"]
    open_doc(client, uri, SWALLOW)
    (diag,) = await diagnostics_at(client, uri, 1)
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=3, character=10)))
    assert hover is not None and hover.contents.kind == types.MarkupKind.Markdown
    assert hover.contents.value == gapcheck("explain", "GAP501").stdout
    assert hover.contents.value.startswith("# GAP501 broad-except-swallowed\n")
    assert hover.range == diag.range
    elsewhere = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=0, character=2)))
    assert elsewhere is None


OAUTH = ("import requests\n\nTOKEN_URL = \"https://auth.example.com/token\"\n\n\ndef exchange_code(code):\n"
         "    return requests.post(TOKEN_URL, data={\"code\": code}, timeout=10).json()\n")
ROUTES = ("from fastapi import APIRouter\n\nimport oauth\n\nrouter = APIRouter()\n\n\n@router.get(\"/callback\")\n"
          "async def callback(code: str):\n    token = oauth.exchange_code(code)\n    return {\"token\": token}\n")


async def test_save_adds_the_project_wide_findings_and_later_edits_carry_them(client: LanguageClient, tmp_path: Path) -> None:
    uri = project(tmp_path, {"oauth.py": OAUTH, "routes.py": ROUTES, "broken.py": "def half(:\n"})["routes.py"]
    open_doc(client, uri, ROUTES)
    assert await diagnostics_at(client, uri, 1) == []  # GAP902 needs oauth.py: the buffer pass cannot see it
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    (diag,) = await published(client, uri, lambda p: p.version == 1 and len(p.diagnostics) == 1)
    assert diag.code == "GAP902" and span(diag)[:2] == (9, 12)
    assert any(m.message.startswith("gapcheck: project scan: broken.py: ") for m in client.log_messages)
    replace_all(client, uri, "\n" + ROUTES, 2)  # a line above: the finding moves with its line
    (moved,) = await diagnostics_at(client, uri, 2)
    assert span(moved)[:2] == (10, 12)
    replace_all(client, uri, "\n" + ROUTES.replace("token = oauth", "token =  oauth"), 3)  # its own line changed
    assert await diagnostics_at(client, uri, 3) == []



async def test_fix_action_applies_the_rules_fix(client: LanguageClient, tmp_path: Path) -> None:
    fixes = pytest.importorskip("gapcheck.analyzer.fixes")  # the fixes module lands separately
    bare = "\n\ndef retry():\n    try:\n        é = run()\n    except:\n        cleanup(é)\n"  # GAP502 has a fix
    text = THUMBNAIL + bare
    uri = project(tmp_path, {"app.py": text})["app.py"]
    open_doc(client, uri, text)
    diags = await diagnostics_at(client, uri, 1)
    settings = load_settings(["."], str(tmp_path / "pyproject.toml"), cwd=tmp_path)
    found = TextAnalyser(settings).analyse("app.py", text).findings
    expected = {f.rule_id: fix for f in found if (fix := fixes.fix_for(f, text)) is not None and fix.edits}
    assert expected, "no finding in this test has a fix: add a line whose rule has one"
    lines = split_lines(text)
    for diag in diags:
        fix = expected.get(diag.code)
        if fix is None:
            continue
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag])))
        (action,) = [a for a in actions if not a.title.startswith("Ignore ")]
        assert action.kind == types.CodeActionKind.QuickFix
        assert action.title.endswith(f"{fix.title} ({fix.rule_id})")
        assert action.title.startswith(UNSAFE_PREFIX) == (fix.applicability != "safe")
        assert only_edits(action, uri, 1) == [text_edit(lines, edit, types.PositionEncodingKind.Utf16)
                                              for edit in fix.edits]


async def test_closing_a_buffer_clears_its_diagnostics(client: LanguageClient, tmp_path: Path) -> None:
    uri = project(tmp_path, {"app.py": SWALLOW})["app.py"]
    open_doc(client, uri, SWALLOW)
    assert len(await diagnostics_at(client, uri, 1)) == 1
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert await published(client, uri, lambda p: p.version is None) == []
