"""`hulian policies validate|list|explain`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from audit.bounded import read_file_bounded
from audit.cli.console import fail, stderr, stdout
from audit.judge.examples import check_examples
from audit.judge.suggest import suggest as draft_for
from audit.policy.catalog import (
    Catalog,
    PolicyError,
    json_schemas,
    load_catalog,
    policy_dirs,
    shipped_policies_dir,
)
from audit.web.decode import MAX_PAGE_BYTES, decode_html
from audit.web.page import parse_page
from audit.web.urls import host_of

app = typer.Typer(help="Validate, list and explain the policy set (platforms, rules, frameworks).",
                  no_args_is_help=True)


def load_or_exit(extra: list[Path] | None = None) -> Catalog:
    try:
        return load_catalog(policy_dirs(extra or []))
    except PolicyError as exc:
        for problem in exc.problems:
            fail(str(problem))
        stderr.print(f"{len(exc.problems)} problem(s) in the policy set / 策略文件有 "
                     f"{len(exc.problems)} 处错误")
        raise typer.Exit(1) from None


@app.command()
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Extra policy directories to check together with the shipped set "
             "(each may hold companies.yaml, platforms/, rules/, frameworks/).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check every policy file against its schema and the references between files.

    Errors name the file, the line and the field. Exit status 1 when anything is wrong.
    """
    try:
        catalog = load_catalog(policy_dirs(paths or []))
    except PolicyError as exc:
        if json_output:
            stdout.print_json(json.dumps({"ok": False, "problems": [
                {"file": str(p.path), "line": p.line, "field": p.field, "message": p.message}
                for p in exc.problems]}, ensure_ascii=False))
        for problem in exc.problems:
            fail(str(problem))
        raise typer.Exit(1) from None
    summary = {"ok": True, "platforms": len(catalog.platforms), "companies": len(catalog.companies),
               "rules": len(catalog.rules), "frameworks": len(catalog.frameworks),
               "digest": catalog.digest}
    if json_output:
        stdout.print_json(json.dumps(summary))
    else:
        stdout.print(f"policies OK / 策略校验通过: {summary['platforms']} platforms, "
                     f"{summary['companies']} companies, {summary['rules']} rules, "
                     f"{summary['frameworks']} frameworks; digest {catalog.digest[:16]}")


@app.command("list")
def list_(
    kind: Annotated[str, typer.Argument(
        help="platforms | rules | frameworks | companies")] = "platforms",
    json_output: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List platforms (with company, category, wrappers, signatures), rules or frameworks."""
    catalog = load_or_exit()
    rows: list[dict[str, object]]
    if kind == "platforms":
        rows = [{"id": p.id, "name_zh": p.name.zh, "name_en": p.name.en, "company": p.company,
                 "category": p.category.value, "wrappers": len(p.wrappers),
                 "signatures": len(p.signatures),
                 "surfaces": [s.kind.value for s in p.surfaces]}
                for p in sorted(catalog.platforms.values(), key=lambda p: (p.company, p.id))]
    elif kind == "rules":
        rows = [{"id": r.id, "severity": r.severity.value, "scope": r.scope,
                 "title_zh": r.title.zh, "title_en": r.title.en}
                for r in sorted(catalog.rules.values(), key=lambda r: r.id)]
    elif kind == "frameworks":
        rows = [{"id": f.id, "title_zh": f.title.zh, "title_en": f.title.en,
                 "requirements": len(f.requirements)} for f in catalog.frameworks.values()]
    elif kind == "companies":
        rows = [{"id": c.id, "name_zh": c.name.zh, "name_en": c.name.en,
                 "platforms": sorted(p.id for p in catalog.platforms.values() if p.company == c.id)}
                for c in sorted(catalog.companies.values(), key=lambda c: c.id)]
    else:
        fail(f"unknown kind {kind!r}; choose platforms, rules, frameworks or companies")
        raise typer.Exit(2)
    if json_output:
        stdout.print_json(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"{kind} ({len(rows)})")
    for column in rows[0] if rows else []:
        table.add_column(column)
    for row in rows:
        table.add_row(*(", ".join(map(str, v)) if isinstance(v, list) else str(v)
                        for v in row.values()))
    stdout.print(table)


@app.command()
def explain(
    policy_id: Annotated[str, typer.Argument(metavar="ID",
                                             help="A platform, rule, framework or company id.")],
) -> None:
    """Show one policy entry in full, with the file it comes from."""
    catalog = load_or_exit()
    for kind, table in (("platform", catalog.platforms), ("rule", catalog.rules),
                        ("framework", catalog.frameworks), ("company", catalog.companies)):
        if policy_id in table:
            entry = table[policy_id]
            source = catalog.sources.get(f"{kind}:{policy_id}")
            stderr.print(f"{kind} {policy_id} from {source}")
            if kind == "rule":
                users = [f"{f.id}/{r.id}" for f in catalog.frameworks.values()
                         for r in f.requirements if policy_id in r.rules]
                stderr.print(f"used by requirements: {', '.join(users) or '(none)'}")
            stdout.print_json(entry.model_dump_json(by_alias=True, exclude_none=True))
            return
    fail(f"no platform, rule, framework or company with id {policy_id!r}")
    raise typer.Exit(1)


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option(
        help="Directory to write the *.schema.json files to. Default: the shipped "
             "policies/schema/.")] = None,
) -> None:
    """Write the JSON Schemas of the policy files (platform, rule, framework, companies,
    markers), for editors and external validators."""
    target = out or shipped_policies_dir() / "schema"
    target.mkdir(parents=True, exist_ok=True)
    for name, body in json_schemas().items():
        (target / name).write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n",
                                   encoding="utf-8")
        stderr.print(f"wrote {target / name}")


@app.command("test")
def run_examples(
    directory: Annotated[Path | None, typer.Argument(
        metavar="[DIR]", help="Test only the signatures of this policy directory (it is added "
                              "to the catalog). Default: every loaded directory.",
        exists=True, file_okay=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")
                           ] = False,
    strict: Annotated[bool, typer.Option(
        help="Also fail (exit 1) when a signature names no example.")] = False,
) -> None:
    """Run every signature against its example pages.

    Each signature names saved pages (`examples:` with a file, relative to its policy
    directory, and the URL the page was served at); each must be recognised as that
    signature, of its kind. Lists the examples that no longer match (exit status 1) and the
    signatures without an example.

    Example: hulian --policies mine/ policies test mine/
    """
    loaded = {d.resolve() for d in policy_dirs()}
    extra = [directory] if directory is not None and directory.resolve() not in loaded else []
    catalog = load_or_exit(extra)
    report = check_examples(catalog, directory)
    if json_output:
        stdout.out(json.dumps({"results": [r.as_dict() for r in report.results],
                               "without_example": report.without_example,
                               "failed": len(report.failed)}, ensure_ascii=False))
    else:
        for result in report.failed:
            fail(f"{result.signature}: {result.file} ({result.url or 'no URL'}): "
                 f"{result.problem}")
        for name in report.without_example:
            stderr.print(f"[yellow]no example[/] / 无示例页面: {name}")
        passed = len(report.results) - len(report.failed)
        stdout.print(f"{passed}/{len(report.results)} examples recognised / 示例页面识别通过; "
                     f"{len(report.without_example)} signature(s) without an example")
    if report.failed or (strict and report.without_example):
        raise typer.Exit(1)


@app.command()
def suggest(
    file: Annotated[Path, typer.Argument(help="A saved page (.html) hulian reads as "
                                              "`unrecognized` (or wrongly).",
                                         exists=True, dir_okay=False)],
    url: Annotated[str, typer.Option(help="The URL the page was served at.")],
) -> None:
    """Print a draft signature (catalog YAML) for a page hulian could not read.

    The draft names the endpoint the page is on (or drafts one from the URL), a kind guessed
    from the page's structure, candidate markers taken from its headline and its explaining
    sentence, and selectors for the target it shows and its continue control. Review it
    against the page, put it in your own policy directory (platforms/<id>.yaml) with the
    page as its example, and run `hulian policies test`.

    Example:

      hulian policies suggest saved.html --url 'https://link.example.cn/?target=https://jd.com/'
    """
    if host_of(url) is None:
        fail(f"--url {url!r} is not an absolute http(s) URL")
        raise typer.Exit(2)
    catalog = load_or_exit()
    try:
        read = read_file_bounded(file, MAX_PAGE_BYTES)
    except OSError as exc:
        fail(f"{file}: cannot read ({exc.strerror or exc})")
        raise typer.Exit(1) from None
    page = parse_page(decode_html(read.data, None, saved=True).text, url)
    if page.root is None:
        fail(f"{file}: no HTML could be parsed from this file")
        raise typer.Exit(1)
    draft = draft_for(page, catalog, url)
    notes = draft.pop("notes")
    out = "".join(f"# {line}\n" for line in [
        "Draft signature by `hulian policies suggest`: review every line against the page.",
        *notes])
    if "endpoint" in draft:
        out += "# Add to the platform's `endpoints:` list:\n"
        out += yaml.safe_dump([draft["endpoint"]], allow_unicode=True, sort_keys=False)
    out += f"# Add to the `signatures:` list of platforms/{draft['platform']}.yaml:\n"
    out += yaml.safe_dump([draft["signature"]], allow_unicode=True, sort_keys=False)
    typer.echo(out, nl=False)  # as written: YAML must not be wrapped to the terminal's width
