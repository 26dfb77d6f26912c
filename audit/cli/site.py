"""`hulian site build` and `hulian site serve`: the history published as a static site
(audit/site/, docs/site.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.cli.console import fail, shown, stderr, stdout
from audit.cli.history import STORE_HELP
from audit.errors import HulianError

app = typer.Typer(help="The static site of the history: build it, preview it. "
                       "历史记录的静态网站：生成与本地预览。", no_args_is_help=True)


@app.command("build")
def build_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the site into "
                                      "(empty, new, or a site built before).")],
    store: Annotated[str | None, typer.Option(
        "--store", "--db", help=STORE_HELP)] = None,
    runs: Annotated[list[str] | None, typer.Option(
        "--runs", help="Publish only these stored runs (repeatable). Default: every run.")]
        = None,
    no_replay: Annotated[bool, typer.Option(
        "--no-replay", help="Do not put each run's WARCs into the site as a WACZ (a history "
                            "of large runs): evidence pages then list the recorded hashes "
                            "without the replay viewer. 不发布可回放的 WACZ 证据。")] = False,
) -> None:
    """Build the static site (zh and en pages, JSON/CSV tables, Atom feed of regressions,
    offline search) from the history store. 由历史库生成静态网站。

    Examples:

      hulian site build --out site/

      hulian site build --out site/ --runs 20261128T030000Z-1a2b3c --no-replay
    """
    from audit.site.build import build

    url = store
    if url is not None and "://" not in url:
        url = f"sqlite:///{Path(url).resolve()}"
    try:
        result = build(out, url, runs or None, publish_replay=not no_replay)
    except HulianError as exc:
        fail(str(exc))
        raise typer.Exit(exc.exit_code) from None
    for note in result.notes:
        stderr.print(f"note 提示: {shown(str(note))}", highlight=False)
    index = (result.out / "index.html").resolve()
    stdout.out(f"site: {result.out} ({len(result.runs)} run(s), {result.pages} pages) / "
               f"站点已生成")
    stdout.out(f"open 打开: {index.as_uri()}  or: hulian site serve {result.out}")


@app.command("serve")
def serve_command(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="A built site.")],
    port: Annotated[int, typer.Option("--port", "-p", help="Port (0: any free one).")] = 8000,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by "
                                                     "default).")] = "127.0.0.1",
    public: Annotated[bool, typer.Option(
        "--public", help="Allow a non-loopback --host (the site becomes reachable from "
                         "other machines).")] = False,
) -> None:
    """Preview a built site over HTTP (the standard library's server; loopback only unless
    --public). 本地预览站点。

    Example:

      hulian site serve site/ --port 8000
    """
    from audit.site.serve import server

    try:
        httpd = server(directory, host, port, public)
    except HulianError as exc:
        fail(str(exc))
        raise typer.Exit(exc.exit_code) from None
    bound_host, bound_port = str(httpd.server_address[0]), int(httpd.server_address[1])
    stdout.out(f"serving {directory} at http://{bound_host}:{bound_port}/ "
               "(Ctrl-C to stop) / 预览中")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        stderr.print("stopped / 已停止", highlight=False)
    finally:
        httpd.server_close()
