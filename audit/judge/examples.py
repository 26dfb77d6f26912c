"""`hulian policies test`: every signature against its example pages. A signature's examples
(policies/examples/… in its policy directory) must each be recognised as that signature, of
its kind; a signature without an example is listed, so that a catalog entry is never only
someone's memory of a page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from audit.bounded import read_file_bounded
from audit.judge.classify import classify_page, platform_for_url
from audit.model import Example, PageSignature, Platform
from audit.policy.catalog import Catalog
from audit.web.decode import MAX_PAGE_BYTES, decode_html
from audit.web.page import parse_page


@dataclass(frozen=True)
class ExampleResult:
    signature: str  # "<platform>/<signature id>"
    file: str  # as the policy names it
    url: str | None
    ok: bool
    got_kind: str | None = None
    got_signature: str | None = None
    problem: str | None = None  # unreadable file, or what was recognised instead

    def as_dict(self) -> dict[str, object]:
        return {"signature": self.signature, "file": self.file, "url": self.url, "ok": self.ok,
                "got_kind": self.got_kind, "got_signature": self.got_signature,
                "problem": self.problem}


@dataclass(frozen=True)
class PolicyTestReport:
    results: list[ExampleResult]
    without_example: list[str]  # signatures that name no example

    @property
    def failed(self) -> list[ExampleResult]:
        return [r for r in self.results if not r.ok]


def _signatures(catalog: Catalog, directory: Path | None
                ) -> Iterator[tuple[Platform, PageSignature, Path]]:
    """Each signature with the policy directory its platform file is in (only those from
    `directory` when it is given)."""
    for platform in catalog.platforms.values():
        home = catalog.sources[f"platform:{platform.id}"].resolve().parent.parent
        if directory is not None and home != directory.resolve():
            continue
        for signature in platform.signatures:
            yield platform, signature, home


def run_example(catalog: Catalog, platform: Platform, signature: PageSignature,
                example: Example, home: Path) -> ExampleResult:
    name = f"{platform.id}/{signature.id}"
    path = home / example.file
    try:
        read = read_file_bounded(path, MAX_PAGE_BYTES)
    except OSError as exc:
        return ExampleResult(name, example.file, example.url, False,
                             problem=f"cannot read {path}: {exc.strerror or exc}")
    page = parse_page(decode_html(read.data, None, saved=True).text, example.url)
    facts = classify_page(page, catalog, platform_for_url(example.url, catalog))
    ok = facts.signature == name and facts.kind.value == signature.kind.value
    problem = None if ok else (f"recognised as {facts.signature or 'no signature'} "
                               f"({facts.kind.value}), not {name} ({signature.kind.value})")
    return ExampleResult(name, example.file, example.url, ok, facts.kind.value,
                         facts.signature, problem)


def check_examples(catalog: Catalog, directory: Path | None = None) -> PolicyTestReport:
    """Run every example of every signature (of `directory` only, when given)."""
    results: list[ExampleResult] = []
    without: list[str] = []
    for platform, signature, home in _signatures(catalog, directory):
        if not signature.examples:
            without.append(f"{platform.id}/{signature.id}")
        for example in signature.examples:
            results.append(run_example(catalog, platform, signature, example, home))
    return PolicyTestReport(results, without)
