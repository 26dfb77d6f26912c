"""`hulian search-barriers`: which search engines saved robots.txt files let index a host."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from audit.bounded import read_bounded, read_file_bounded
from audit.cli.console import fail, shown, stderr, stdout
from audit.cli.policies import load_or_exit
from audit.judge.search import (
    CLASS_LABELS,
    MAX_ROBOTS_BYTES,
    RobotsFetch,
    SearchBarriers,
    engine_tokens,
    judge_robots,
    reason_text,
    self_preference,
    token_companies,
)
from audit.model import SearchClass
from audit.policy.catalog import Catalog


class InputError(Exception):
    """A FILE argument that cannot be judged; the message names it."""


def _host_and_path(arg: str, host: str | None) -> tuple[str, str]:
    """`HOST=FILE`, or FILE named after its host (`www.taobao.com.txt`), or `--host`."""
    if "=" in arg and not Path(arg).exists():
        name, _, file = arg.partition("=")
        if not name or not file:
            raise InputError(f"{arg}: expected HOST=FILE")
        return name.strip().lower(), file
    if host:
        return host.strip().lower(), arg
    if arg == "-":
        raise InputError("-: standard input needs --host HOST (or write HOST=-)")
    name = Path(arg).name
    name = name[:-4] if name.lower().endswith(".txt") else name
    if not name or name.lower() == "robots":
        raise InputError(f"{arg}: cannot tell the host from the file name; "
                         "write HOST=FILE or use --host")
    return name.lower(), arg


def _read(file: str) -> RobotsFetch:
    """The file as if served with status 200, read no further than the judge parses."""
    limit = MAX_ROBOTS_BYTES
    try:
        if file == "-":
            bounded = read_bounded(sys.stdin.buffer, limit)
            size = None
        else:
            path = Path(file)
            if path.is_dir():
                raise InputError(f"{file}: is a directory, not a robots.txt file")
            bounded = read_file_bounded(path, limit)
            size = path.stat().st_size if bounded.more and path.is_file() else None
    except FileNotFoundError:
        raise InputError(f"{file}: no such file") from None
    except PermissionError:
        raise InputError(f"{file}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{file}: cannot be read ({exc.strerror or exc})") from None
    return RobotsFetch(200, bounded.data, truncated=bounded.more, size=size)


def _self_preference(result: SearchBarriers, catalog: Catalog) -> dict[str, Any] | None:
    platform = catalog.platform_for_url(f"https://{result.host}/")
    if platform is None:
        return None
    found = self_preference(result.classes, platform.company, token_companies(catalog))
    if found is None:
        return None
    return {"platform": platform.id, "company": found.company, "prefers": found.prefers,
            "own": {t: c.value for t, c in found.own.items()},
            "worse": {t: c.value for t, c in found.worse.items()}}


def _label(cls: SearchClass) -> str:
    zh, en = CLASS_LABELS[cls]
    return f"{cls.value} {zh}" if zh != en else cls.value


_STYLE = {SearchClass.OPEN: "green", SearchClass.PARTIAL: "yellow", SearchClass.CLOSED: "red",
          SearchClass.UNREACHABLE: "magenta", SearchClass.NOINDEX: "red"}


def _print_table(source: str, result: SearchBarriers, catalog: Catalog,
                 preference: dict[str, Any] | None) -> None:
    stdout.print(f"[bold]{shown(result.host)}[/]  ({shown(source)})", highlight=False)
    names = {e.token: e.name for e in catalog.search_engines.values()}
    table = Table(show_lines=False)
    for column in ("engine 搜索引擎", "token", "class 类别", "groups 适用的组"):
        table.add_column(column, overflow="fold")
    for token, cls in result.classes.items():
        name = names.get(token)
        groups = result.groups.get(token, [])
        table.add_row(shown(f"{name.zh} {name.en}") if name else shown(token), shown(token),
                      f"[{_STYLE[cls]}]{_label(cls)}[/]",
                      shown(", ".join(groups)) if groups else "(none 无)")
    stdout.print(table)
    stdout.print(f"discriminates 区别对待: {'yes 是' if result.discriminates else 'no 否'}",
                 highlight=False)
    if preference is not None:
        if preference["prefers"]:
            stdout.print(f"self-preference 自我优待 ({preference['platform']}): yes 是 — own "
                         f"{', '.join(preference['own'])} more open than "
                         f"{', '.join(preference['worse'])}", highlight=False)
        else:
            stdout.print(f"self-preference 自我优待 ({preference['platform']}): no 否",
                         highlight=False)
    sitemaps = ", ".join(result.sitemaps) if result.sitemaps else "(none 无)"
    stdout.print(f"sitemaps 站点地图: {shown(sitemaps)}", highlight=False)
    for reason in result.reasons:
        zh, en = reason_text(reason)
        stdout.print(f"note 说明: {shown(zh)} / {shown(en)}", highlight=False)
    stdout.print()


def search_barriers_command(
    files: Annotated[list[str], typer.Argument(
        help="Saved robots.txt files: HOST=FILE, or FILE named after its host "
             "(www.taobao.com.txt); '-' for standard input with --host.",
        show_default=False)],
    host: Annotated[str | None, typer.Option(
        help="The host of the (single) FILE, when its name does not say it.")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print one JSON line per host.")] = False,
) -> None:
    """Judge saved robots.txt files: for each host, the class each search engine's crawler
    gets (open, partial, closed; RFC 9309, parsed by Protego), whether the host
    discriminates between engines, the sitemaps it lists and which groups applied to each
    engine. 判断已保存的 robots.txt：各搜索引擎爬虫的抓取权限、是否区别对待、站点地图。

    Examples:

      hulian search-barriers www.taobao.com.txt weibo.com.txt

      hulian search-barriers m.example.cn=saved/robots.txt --json

      curl -s https://www.example.cn/robots.txt | hulian search-barriers - --host www.example.cn
    """
    if host and len(files) > 1:
        fail("--host names the host of a single FILE; for several, write HOST=FILE")
        raise typer.Exit(2)
    catalog = load_or_exit()
    tokens = engine_tokens(catalog)
    if not tokens:
        fail("the policy catalog names no search engines (policies/search_engines.yaml)")
        raise typer.Exit(1)
    failures = 0
    for arg in files:
        try:
            name, file = _host_and_path(arg, host)
            fetch = _read(file)
        except InputError as exc:
            failures += 1
            fail(str(exc))
            continue
        result = judge_robots(name, fetch, tokens)
        for reason in result.reasons:
            stderr.print(f"[yellow]warning[/]: {shown(file)}: {shown(reason_text(reason)[1])}",
                         highlight=False)
        preference = _self_preference(result, catalog)
        if json_output:
            payload = {**result.to_json(), "file": file, "self_preference": preference}
            stdout.out(json.dumps(payload, ensure_ascii=False), highlight=False)
        else:
            _print_table(file, result, catalog, preference)
    if failures:
        raise typer.Exit(1)
