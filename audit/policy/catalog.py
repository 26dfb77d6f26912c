"""Load and validate the policy set (companies, platforms, rules, frameworks, markers).

A policy directory holds `companies.yaml`, `markers.yaml`, `search_engines.yaml`,
`platforms/*.yaml`, `rules/*.yaml` and `frameworks/*.yaml`; every part is optional except in
the shipped set. Several directories
can be stacked (the shipped one first, then the user's): entries are merged and a duplicate id
is an error. Every problem is reported with file, line and field.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from audit import shipped_dir
from audit.bounded import describe, read_file_bounded
from audit.errors import HulianError
from audit.model import Company, Framework, GenericMarkers, Platform, Rule, SearchEngine, Text
from audit.web.urls import host_of

POLICIES_ENV = "HULIAN_POLICIES"

M = TypeVar("M", bound=BaseModel)


def shipped_policies_dir() -> Path:
    """The policy set that comes with hulian (repo checkout or installed wheel)."""
    return shipped_dir("policies", "platforms")


@dataclass(frozen=True)
class PolicyProblem:
    path: Path
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        what = f" [{self.field}]" if self.field else ""
        return f"{where}:{what} {self.message}"


class PolicyError(HulianError):
    """One or more policy files are invalid; `problems` names each file, line and field."""

    def __init__(self, problems: Sequence[PolicyProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Catalog:
    companies: dict[str, Company] = field(default_factory=dict)
    platforms: dict[str, Platform] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)
    frameworks: dict[str, Framework] = field(default_factory=dict)
    markers: GenericMarkers | None = None
    search_engines: dict[str, SearchEngine] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # "<dir-index>/<relpath>" -> content
    sources: dict[str, Path] = field(default_factory=dict)  # "<kind>:<id>" -> file
    nodes: dict[str, yaml.Node] = field(default_factory=dict, repr=False)  # for line numbers
    _owners: tuple[tuple[int, ...], dict[str, Platform]] | None = field(
        default=None, init=False, repr=False, compare=False)

    @property
    def digest(self) -> str:
        """sha256 over every loaded file's name and bytes: the policy version of a run."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()

    def company_of(self, platform_id: str | None) -> str | None:
        platform = self.platforms.get(platform_id or "")
        return platform.company if platform else None

    def company_name(self, company_id: str) -> Text | None:
        """A company's name: from companies.yaml, or from the search engine that names a
        company owning no audited platform (Google, Microsoft ...)."""
        if company_id in self.companies:
            return self.companies[company_id].name
        return next((e.company_name for e in self.search_engines.values()
                     if e.company == company_id and e.company_name is not None), None)

    def platform_for_url(self, url: str | None) -> Platform | None:
        """The platform owning a URL's host: the longest matching domain suffix wins, so
        `weixin.qq.com` goes to WeChat even though `qq.com` belongs to QQ."""
        host = host_of(url) if url else None
        if host is None:
            return None
        owners = self._domain_owners()
        # The host, then each suffix after a dot, longest first: the first one a platform
        # claims is the longest matching domain (a lookup per label, not a scan of every
        # platform's domains: a 2,000-platform catalog took 2 ms a host).
        while True:
            platform = owners.get(host)
            if platform is not None:
                return platform
            dot = host.find(".")
            if dot < 0:
                return None
            host = host[dot + 1:]

    def _domain_owners(self) -> dict[str, Platform]:
        """domain -> the first platform claiming it, made again when the platforms change
        (a catalog is built, then read; tests and the lab add platforms before reading)."""
        stamp = tuple(map(id, self.platforms.values()))
        if self._owners is None or self._owners[0] != stamp:
            owners: dict[str, Platform] = {}
            for platform in self.platforms.values():
                for domain in platform.domains:
                    owners.setdefault(domain, platform)
            self._owners = (stamp, owners)
        return self._owners[1]

    def require_markers(self) -> GenericMarkers:
        if self.markers is None:
            raise PolicyError([PolicyProblem(Path("markers.yaml"), None, None, "no markers.yaml")])
        return self.markers


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the policy files (for editors: `# yaml-language-server: $schema=...`)."""
    from pydantic import TypeAdapter

    return {
        "platform.schema.json": Platform.model_json_schema(by_alias=True),
        "rule.schema.json": Rule.model_json_schema(by_alias=True),
        "framework.schema.json": Framework.model_json_schema(by_alias=True),
        "markers.schema.json": GenericMarkers.model_json_schema(by_alias=True),
        "companies.schema.json": TypeAdapter(list[Company]).json_schema(by_alias=True),
        "search_engines.schema.json":
            TypeAdapter(list[SearchEngine]).json_schema(by_alias=True),
    }


# ---------------------------------------------------------------------------------------
# YAML with line numbers
# ---------------------------------------------------------------------------------------


def _node_at(node: yaml.Node, loc: Iterable[int | str], key: bool = False) -> yaml.Node:
    """The YAML node a pydantic error location points to (as deep as it exists). With
    `key`, the last mapping step yields the key rather than its value (for an unknown key,
    whose value may start on a later line)."""
    steps = list(loc)
    for n, step in enumerate(steps):
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == step), None)
            if pair is None:
                return node
            key_node: yaml.Node = pair[0]
            if key and n == len(steps) - 1:
                return key_node
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                return node
            node = node.value[step]
        else:
            return node
    return node


_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _PolicyLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """The safe loader, refusing a key given twice in one mapping (YAML keeps the last one
    silently). Checked while each mapping is built, which the load does anyway."""

    path = Path()

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Before merge keys (`<<`) are flattened in: a mapping may override what it merges.
        _check_duplicate_keys(self.path, node)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping

# A policy file is a page of YAML (the largest shipped one is 14 KB); read no more than this.
MAX_POLICY_BYTES = 1024 * 1024
# Aliases share one node, so a few lines can stand for a tree of billions of nodes that
# validation would then walk; the shipped files expand to a few thousand.
MAX_EXPANDED_NODES = 200_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


def read_policy_file(path: Path) -> bytes:
    """A policy file's bytes, read with its size limit applied while reading (a FIFO or a
    device under a policy name must not hang or fill memory)."""
    if not path.is_file():
        raise PolicyError([PolicyProblem(path, None, None, "not a regular file")])
    try:
        read = read_file_bounded(path, MAX_POLICY_BYTES)
    except OSError as exc:
        raise PolicyError([PolicyProblem(path, None, None,
                                         f"cannot read ({exc.strerror or exc})")]) from None
    if read.more:
        raise PolicyError([PolicyProblem(path, None, None, "larger than "
                                         f"{describe(MAX_POLICY_BYTES)}: not a policy file")])
    return read.data


def read_yaml(path: Path, content: bytes) -> tuple[Any, yaml.Node | None]:
    """A YAML document's data and node tree (for line numbers), read with hulian's bounds on
    keys given twice, aliases' expansion and nesting; PolicyError names the file and line.
    Policies, lab scenarios and target lists are read by it."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = content[:exc.start].count(b"\n") + 1
        raise PolicyError(
            [PolicyProblem(path, bad_line, None, f"not UTF-8 (byte {exc.start})")]
        ) from None
    # One parse (libyaml when available) gives both the node tree, for line numbers, and the
    # data built from it; parsing twice in pure Python made every command start slowly.
    loader = _PolicyLoader(text)
    loader.path = path
    try:
        node = loader.get_single_node()
        if node is not None and "&" in text:  # no anchor, no alias: nothing to expand
            _check_expansion(path, node)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([PolicyProblem(path, line, None, f"invalid YAML: {problem}")]) from None
    except RecursionError:
        # libyaml stops at 1,000 levels; the pure-Python loader may not get that far.
        raise PolicyError([PolicyProblem(path, None, None, "invalid YAML: nested too "
                                         "deeply")]) from None
    finally:
        loader.dispose()
    return data, node


def _check_expansion(path: Path, top: yaml.Node) -> None:
    """Aliases must not expand into a huge (or endless) tree. One pass without recursion;
    each node is sized once, however many aliases share it."""
    size: dict[int, int] = {}
    # (node, children pushed yet)
    stack: list[tuple[yaml.Node, bool]] = [(top, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if expanded:
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            if size[key] > MAX_EXPANDED_NODES:
                raise PolicyError([PolicyProblem(
                    path, node.start_mark.line + 1, None, "aliases expand to more than "
                    f"{MAX_EXPANDED_NODES} nodes (an alias bomb, not a policy)")])
            continue
        if key in size:
            if size[key] < 0:
                raise PolicyError([PolicyProblem(path, node.start_mark.line + 1, None,
                                                 "an alias refers to a node that contains it")])
            continue
        size[key] = -1  # being sized: meeting it again below it means a cycle
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_duplicate_keys(path: Path, node: yaml.MappingNode) -> None:
    seen: dict[tuple[str, str], int] = {}
    for key_node, _value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue  # merge keys (`<<`) may be overridden by the mapping's own keys
        line = key_node.start_mark.line + 1
        first = seen.get((key_node.tag, key_node.value))
        if first is not None:
            raise PolicyError([PolicyProblem(
                path, line, str(key_node.value),
                f"duplicate key {key_node.value!r} (first on line {first}); YAML would keep "
                "only the last one")])
        seen[(key_node.tag, key_node.value)] = line


def _validate(model: type[M], data: Any, path: Path, node: yaml.Node | None,
              loc_prefix: tuple[int | str, ...] = ()) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = None
            if node is not None:
                line = _node_at(node, loc_prefix + loc,
                                key=err["type"] == "extra_forbidden").start_mark.line + 1
            field_name = ".".join(str(p) for p in loc) or None
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown key (not in the schema; check the spelling)"
            problems.append(PolicyProblem(path, line, field_name, message))
        raise PolicyError(problems) from None


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def policy_dirs(extra: Sequence[Path] = ()) -> list[Path]:
    """The shipped set, then directories from $HULIAN_POLICIES, then `extra`."""
    dirs = [shipped_policies_dir()]
    env = os.environ.get(POLICIES_ENV, "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs += list(extra)
    return dirs


def load_catalog(dirs: Sequence[Path] | None = None) -> Catalog:
    """Load, validate and cross-check the policy set; raise PolicyError listing every problem."""
    dirs = policy_dirs() if dirs is None else list(dirs)
    catalog = Catalog()
    problems: list[PolicyProblem] = []
    for index, directory in enumerate(dirs):
        if not directory.is_dir():
            problems.append(PolicyProblem(directory, None, None, "policy directory not found"))
            continue
        problems += _load_dir(catalog, index, directory)
    if not problems:
        problems += _cross_check(catalog)
    if problems:
        raise PolicyError(problems)
    return catalog


def _load_dir(catalog: Catalog, index: int, directory: Path) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []

    def read(path: Path) -> tuple[Any, yaml.Node | None] | None:
        try:
            content = read_policy_file(path)
        except PolicyError as exc:
            problems.extend(exc.problems)
            return None
        catalog.files[f"{index}/{path.relative_to(directory).as_posix()}"] = content
        try:
            data, node = read_yaml(path, content)
        except PolicyError as exc:
            problems.extend(exc.problems)
            return None
        if data is None:
            problems.append(PolicyProblem(path, None, None, "empty file"))
            return None
        return data, node

    def register(kind: str, table: dict[str, Any], obj: Any, path: Path, line: int | None,
                 node: yaml.Node | None = None) -> None:
        key = f"{kind}:{obj.id}"
        if obj.id in table:
            problems.append(PolicyProblem(
                path, line, "id", f"duplicate {kind} id {obj.id!r} (also in {catalog.sources[key]})"
            ))
            return
        table[obj.id] = obj
        catalog.sources[key] = path
        if node is not None:
            catalog.nodes[key] = node

    def read_list(path: Path, kind: str, plural: str, model: type[BaseModel],
                  table: dict[str, Any]) -> None:
        """A file that is a list of entries (companies, search engines)."""
        if not path.is_file() or not (loaded := read(path)):
            return
        data, node = loaded
        if not isinstance(data, list):
            problems.append(PolicyProblem(path, 1, None, f"expected a list of {plural}"))
            return
        for i, item in enumerate(data):
            try:
                entry = _validate(model, item, path, node, (i,))
            except PolicyError as exc:
                problems.extend(exc.problems)
                continue
            line = _node_at(node, (i,)).start_mark.line + 1 if node else None
            register(kind, table, entry, path, line, _node_at(node, (i,)) if node else None)

    read_list(directory / "companies.yaml", "company", "companies", Company, catalog.companies)
    read_list(directory / "search_engines.yaml", "search_engine", "search engines",
              SearchEngine, catalog.search_engines)

    markers = directory / "markers.yaml"
    if markers.is_file() and (loaded := read(markers)):
        try:
            parsed = _validate(GenericMarkers, loaded[0], markers, loaded[1])
        except PolicyError as exc:
            problems.extend(exc.problems)
        else:
            if catalog.markers is not None:
                problems.append(PolicyProblem(markers, 1, None, "markers.yaml given twice"))
            catalog.markers = parsed
            for reason in parsed.reasons:
                for pattern in reason.patterns:
                    problems += _check_regex(markers, "reasons.patterns", pattern)

    kinds: tuple[tuple[str, str, type[BaseModel], dict[str, Any]], ...] = (
        ("platform", "platforms", Platform, catalog.platforms),
        ("rule", "rules", Rule, catalog.rules),
        ("framework", "frameworks", Framework, catalog.frameworks),
    )
    for kind, sub, model, table in kinds:
        for path in sorted((directory / sub).glob("*.y*ml")):
            loaded = read(path)
            if loaded is None:
                continue
            try:
                obj = _validate(model, loaded[0], path, loaded[1])
            except PolicyError as exc:
                problems.extend(exc.problems)
                continue
            obj_id = getattr(obj, "id")  # noqa: B009 - every policy model has an id
            if obj_id != path.stem:
                problems.append(PolicyProblem(
                    path, _line_of(loaded[1], ("id",)), "id",
                    f"id {obj_id!r} must equal the file name {path.stem!r}",
                ))
                continue
            register(kind, table, obj, path, _line_of(loaded[1], ("id",)), loaded[1])
    return problems


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    return _node_at(node, loc).start_mark.line + 1 if node is not None else None


def _check_regex(path: Path, field_name: str, pattern: str,
                 line: int | None = None) -> list[PolicyProblem]:
    try:
        re.compile(pattern)
    except re.error as exc:
        return [PolicyProblem(path, line, field_name, f"bad regular expression {pattern!r}: {exc}")]
    return []


def _cross_check(catalog: Catalog) -> list[PolicyProblem]:
    """References between files: companies, platforms, rules, regexes, shared domains."""
    problems: list[PolicyProblem] = []
    owner: dict[str, str] = {}

    def at(kind: str, obj_id: str, loc: tuple[int | str, ...], field_name: str,
           message: str) -> PolicyProblem:
        key = f"{kind}:{obj_id}"
        return PolicyProblem(catalog.sources[key], _line_of(catalog.nodes.get(key), loc),
                             field_name, message)

    for platform in catalog.platforms.values():
        path = catalog.sources[f"platform:{platform.id}"]
        if platform.company not in catalog.companies:
            problems.append(at("platform", platform.id, ("company",), "company",
                               f"unknown company {platform.company!r} (not in companies.yaml)"))
        for d, domain in enumerate(platform.domains):
            if domain in owner and owner[domain] != platform.id:
                problems.append(at("platform", platform.id, ("domains", d), f"domains.{d}",
                                   f"domain {domain!r} is also claimed by {owner[domain]!r}"))
            owner.setdefault(domain, platform.id)
        for i, wrapper in enumerate(platform.wrappers):
            if wrapper.match.path:
                problems += _check_regex(
                    path, f"wrappers.{i}.match.path", wrapper.match.path,
                    _line_of(catalog.nodes.get(f"platform:{platform.id}"),
                             ("wrappers", i, "match", "path")))
        for i, signature in enumerate(platform.signatures):
            if signature.match and signature.match.path:
                problems += _check_regex(
                    path, f"signatures.{i}.match.path", signature.match.path,
                    _line_of(catalog.nodes.get(f"platform:{platform.id}"),
                             ("signatures", i, "match", "path")))
    for rule in catalog.rules.values():
        path = catalog.sources[f"rule:{rule.id}"]
        for s, source in enumerate(rule.applies_to.sources):
            if source not in catalog.platforms:
                problems.append(at("rule", rule.id, ("applies_to", "sources", s),
                                   f"applies_to.sources.{s}", f"unknown platform {source!r}"))
    for framework in catalog.frameworks.values():
        path = catalog.sources[f"framework:{framework.id}"]
        seen: set[str] = set()
        for i, requirement in enumerate(framework.requirements):
            if requirement.id in seen:
                problems.append(at("framework", framework.id, ("requirements", i, "id"),
                                   f"requirements.{i}.id",
                                   f"duplicate requirement {requirement.id!r}"))
            seen.add(requirement.id)
            for r, rule_id in enumerate(requirement.rules):
                if rule_id not in catalog.rules:
                    problems.append(at("framework", framework.id, ("requirements", i, "rules", r),
                                       f"requirements.{i}.rules.{r}", f"unknown rule {rule_id!r}"))
    problems += _check_search_engines(catalog, at)
    if catalog.markers is None:
        problems.append(PolicyProblem(Path("markers.yaml"), None, None,
                                      "no markers.yaml in any policy directory"))
    return problems


def _check_search_engines(catalog: Catalog,
                          at: Callable[..., PolicyProblem]) -> list[PolicyProblem]:
    """An engine's company is in companies.yaml, or named by the engine (one name per
    company); no product token belongs to two engines (robots.txt would not tell them apart)."""
    problems: list[PolicyProblem] = []
    token_owner: dict[str, str] = {}
    named: dict[str, tuple[str, Text]] = {}  # company -> (first engine naming it, the name)
    for engine in catalog.search_engines.values():
        if engine.company_name is not None:
            first, name = named.setdefault(engine.company, (engine.id, engine.company_name))
            if name != engine.company_name:
                problems.append(at("search_engine", engine.id, ("company_name",),
                                   "company_name", f"company {engine.company!r} is named "
                                   f"differently by engine {first!r}"))
        known = engine.company in catalog.companies
        if not known and engine.company_name is None:
            problems.append(at("search_engine", engine.id, ("company",), "company",
                               f"unknown company {engine.company!r}: add it to companies.yaml, "
                               "or name it here with company_name (a company that owns no "
                               "audited platform)"))
        elif known and engine.company_name is not None:
            problems.append(at("search_engine", engine.id, ("company_name",), "company_name",
                               f"company {engine.company!r} is in companies.yaml, which names "
                               "it; remove company_name"))
        tokens = [("token", engine.token),
                  *((f"other_tokens.{i}", t) for i, t in enumerate(engine.other_tokens))]
        for field_name, token in tokens:
            owner = token_owner.setdefault(token.lower(), engine.id)
            if owner != engine.id:
                problems.append(at("search_engine", engine.id, tuple(
                    int(p) if p.isdigit() else p for p in field_name.split(".")), field_name,
                    f"token {token!r} also belongs to engine {owner!r} (tokens are compared "
                    "case-insensitively)"))
    return problems


RUN_POLICIES = "policies"  # a run's own policy directory (e.g. the lab's platforms)


def catalog_for_run(run: Path, extra: list[Path] | None = None) -> Catalog:
    """The shipped policies, the user's, and the run's own (if it carries any)."""
    dirs = policy_dirs(extra or [])
    own = run / RUN_POLICIES
    if own.is_dir():
        dirs.append(own)
    return load_catalog(dirs)
