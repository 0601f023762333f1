"""How long `gapcheck server` takes from a change to the diagnostics for it, on a 1,000-line buffer.

The buffer is built from the fixture files (realistic app code, so the checks have work to do). Each change edits
one line, then waits for the publishDiagnostics of that version before the next change: the time measured is
what a user sees after they stop typing, so it INCLUDES the server's debounce delay (printed with the results).

    python bench/lsp_latency.py                      # 50 changes
    python bench/lsp_latency.py --changes 200 --suppressions

`--suppressions` adds one `# gapcheck: ignore[...]` comment to the buffer: the comment makes the analysis read
suppressions with LibCST, which costs more than the checks themselves on a file this size.
Needs only what gapcheck installs (pygls). Run from a checkout with the package importable as `gapcheck`.
"""
from __future__ import annotations

import argparse
import ast
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

REPO = Path(__file__).resolve().parent.parent
LINES = 1000
MARKER = "gapcheck:"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere). Unlike wall time it barely moves
    when other processes compete for the cores, so it shows the server's own cost on a busy machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_buffer(lines: int, with_suppression: bool) -> str:
    """Whole fixture files, in sorted order, cut at the last top-level statement that fits, padded to `lines`."""
    text = ""
    for path in sorted((REPO / "fixtures").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if MARKER in source:  # suppressions are opted into with --suppressions, not picked up by chance
            continue
        text += source.rstrip("\n") + "\n\n\n"
        if text.count("\n") >= lines:
            break
    tree = ast.parse(text)
    end = max(node.end_lineno or 0 for node in tree.body if (node.end_lineno or 0) <= lines - 2)
    kept = text.split("\n")[:end]
    if with_suppression:
        kept.append("VALUE = 1  # gapcheck: ignore[GAP101]")
    kept += ["# padding"] * (lines - 1 - len(kept))
    kept.append("# edited by the benchmark")
    body = "\n".join(kept) + "\n"
    ast.parse(body)
    return body


async def measure(changes: int, with_suppression: bool, command: list[str]) -> None:
    text = build_buffer(LINES, with_suppression)
    last_line = text.count("\n") - 1
    published: dict[int, float] = {}  # version -> when its diagnostics arrived
    counts: dict[int, int] = {}
    arrived = asyncio.Event()
    client = LanguageClient("lsp-latency-bench", "1")

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        if params.version is not None:
            published.setdefault(params.version, time.perf_counter())
            counts[params.version] = len(params.diagnostics)
            arrived.set()

    async def wait_for(version: int) -> float:
        while version not in published:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 30)
        return published[version]

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "app.py"
        path.write_text(text, encoding="utf-8")
        uri = path.as_uri()
        await client.start_io(*command)
        init = await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
        client.initialized(types.InitializedParams())
        started = time.perf_counter()
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
        first = await wait_for(1) - started
        pid = client._server.pid if client._server else 0
        cpu_before = cpu_seconds(pid)
        latencies = []
        for version in range(2, changes + 2):
            edit = "# edited by the benchmark" + ("!" if version % 2 else "")
            sent = time.perf_counter()
            client.text_document_did_change(types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(line=last_line, character=0),
                                      end=types.Position(line=last_line + 1, character=0)),
                    text=edit + "\n")]))
            latencies.append(await wait_for(version) - sent)
        cpu_after = cpu_seconds(pid)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()

    from gapcheck.analyzer.server import DEBOUNCE_SECONDS

    ms = sorted(x * 1000 for x in latencies)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    name = init.server_info.name if init.server_info else "server"
    print(f"{name}: {text.count(chr(10))}-line buffer, {counts[max(counts)]} diagnostics, "
          f"{'one suppression comment' if with_suppression else 'no suppression comments'}, "
          f"debounce {DEBOUNCE_SECONDS * 1000:.0f} ms (included)")
    print(f"first diagnostics after open: {first * 1000:.0f} ms (rules load once per server)")
    print(f"change -> diagnostics over {len(ms)} changes: median {statistics.median(ms):.0f} ms, "
          f"p90 {p90:.0f} ms, min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms")
    if cpu_before is not None and cpu_after is not None:
        print(f"server CPU per change: {(cpu_after - cpu_before) / len(ms) * 1000:.0f} ms; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=50, help="changes to time (default 50)")
    parser.add_argument("--suppressions", action="store_true", help="put one ignore comment in the buffer")
    parser.add_argument("--server-cmd", default=f"{sys.executable} -m gapcheck.analyzer server",
                        help="how to start the server (default: this Python, -m gapcheck.analyzer server)")
    args = parser.parse_args()
    asyncio.run(measure(args.changes, args.suppressions, args.server_cmd.split()))


if __name__ == "__main__":
    main()
