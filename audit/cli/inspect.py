"""`hulian inspect`: what kind of page a saved file is, and how it treats each outbound link."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from audit.cli.console import fail, shown, stderr, stdout
from audit.cli.policies import load_or_exit
from audit.judge.inspect import InspectError, Inspection, inspect_bytes, pages_in, read_input
from audit.model import PageKind

# Every kind a page can be given (tests check none is missing): the kinds that a person must
# look at (unrecognized) or that cannot be judged (error) are the ones that matter most here.
KIND_LABELS: dict[PageKind, str] = {
    # Not "a normal page": what the catalog's signatures, the generic markers and (on an
    # interception endpoint) the structure found no interception in.
    PageKind.CONTENT: "content 未识别出拦截 (no interception recognised)",
    PageKind.WARNED: "warned 风险提示页",
    PageKind.COPY_ONLY: "copy_only 复制到浏览器",
    PageKind.BLOCKED: "blocked 已拦截",
    PageKind.UNRECOGNIZED: "unrecognized 无法识别，需人工复核",
    PageKind.REDIRECT: "redirect 跳转页",
    PageKind.ERROR: "error 无法判断",
}


def _print_table(inspection: Inspection) -> None:
    """The page's reading and its links, for a person: everything the page says (its URL,
    its links and their targets, the reason it states) through `shown`, never as markup
    or terminal controls."""
    result = inspection.result
    page = result["page"]
    assert isinstance(page, dict)
    stdout.print(f"[bold]{shown(inspection.source)}[/]  url: "
                 f"{shown(str(result['url'] or '(unknown)'))}")
    stdout.print(f"platform 平台: {shown(str(result['platform'] or '(unknown)'))}   "
                 f"company 公司: {shown(str(result['company'] or '(unknown)'))}")
    line = f"page 页面: [bold]{KIND_LABELS[PageKind(str(page['kind']))]}[/]"
    if page.get("failure"):
        line += f"   failure 原因: {shown(str(page['failure']))}"
    if page["target"]:
        line += f"   target 目标: {shown(str(page['target']))}"
    if page["reason"]:
        line += f"   reason 原因: {shown(str(page['reason']))}"
    if page["signature"]:
        line += f"   signature: {shown(str(page['signature']))}"
    stdout.print(line)
    if page["kind"] == PageKind.CONTENT and not result["url"]:
        stdout.print("  without the page's URL only the signatures and the generic markers were "
                     "tried; give --url for the reading of an interception endpoint / 未提供网址："
                     "仅按特征与通用标记识别，请用 --url 给出原网址")
    links = result["links"]
    assert isinstance(links, list)
    if not links:
        stdout.print("no outbound links / 无外链")
        return
    table = Table(title=f"outbound links 外链 ({len(links)})", show_lines=False)
    for column in ("target", "domain", "platform", "via", "as", "n"):
        table.add_column(column, overflow="fold")
    for link in links:
        table.add_row(shown(str(link["target"] or f"(hidden) {link['href']}")),
                      shown(str(link["target_domain"] or "-")),
                      shown(str(link["target_platform"] or "-")), shown(str(link["via"] or "-")),
                      shown(str(link["rendered_as"])), str(link["count"]))
    stdout.print(table)


def inspect(
    file: Annotated[str, typer.Argument(
        help="A saved page (.html), '-' for standard input, or a directory of pages.")],
    url: Annotated[str | None, typer.Option(
        help="The page's original URL. Default: its canonical link or og:url, if any.")] = None,
    platform: Annotated[str | None, typer.Option(
        help="Platform id (see `hulian policies list`). Default: from the URL's host.")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print JSON (one line per page for a directory).")] = False,
    content_type: Annotated[str | None, typer.Option(
        help="The HTTP Content-Type the page was served with, for its charset.")] = None,
) -> None:
    """Say what kind of page FILE is (content, warned, copy_only, blocked; on a platform's
    interception endpoint also unrecognized, redirect or error) and list every outbound
    link: its target (unwrapped from the platform's link wrapper), target domain and
    platform, the wrapper it goes through, and whether it is a clickable anchor or plain
    text.

    Examples:

      hulian inspect saved.html --url https://www.zhihu.com/question/1/answer/2

      curl -s URL | hulian inspect - --url URL --json

      hulian inspect pages/ --json > inventory.jsonl
    """
    catalog = load_or_exit()
    path = Path(file)
    files = pages_in(path) if file != "-" and path.is_dir() else [file]
    if not files:
        fail(f"{file}: no .html/.htm files in this directory")
        raise typer.Exit(1)
    stdin = sys.stdin.buffer if file == "-" else None
    failures = 0
    for entry in files:
        name = str(entry)
        try:
            data = read_input(name, stdin)
            inspection = inspect_bytes(data, catalog, source=name, url=url,
                                       platform_id=platform, content_type=content_type)
        except InspectError as exc:
            failures += 1
            fail(str(exc))
            if json_output and len(files) > 1:
                stdout.out(json.dumps({"file": name, "error": str(exc)}, ensure_ascii=False))
            continue
        for warning in inspection.warnings:
            stderr.print(f"[yellow]warning[/]: {shown(str(warning))}")
        if json_output:
            payload = dict(inspection.result)
            if len(files) > 1:
                payload = {"file": name, **payload}
            stdout.out(json.dumps(payload, ensure_ascii=False), highlight=False)
        else:
            _print_table(inspection)
    if failures:
        raise typer.Exit(1)
