"""Test plans for app testing through a proxy: which links to send on one surface of one
platform, each carrying a probe token, as a checklist (Markdown, printable HTML with a QR code
per link) and as machine-readable JSON that `hulian capture record/analyze` read.

Why tokens: an app's traffic is a mess of wrappers, interstitials, short links and API calls;
the token (`hulian_probe=hp…`) survives wrapping, percent- and base64-encoding, so every flow
can be attributed to its probe. Where a platform strips query parameters, the analysis falls
back to the planned target URL itself, which is unique within a plan (checked here).
"""

from __future__ import annotations

import base64
import html
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit.errors import HulianError
from audit.lab.pages import Site
from audit.lab.scenario import load_scenario
from audit.measure.capture.chains import add_token
from audit.measure.chain import probe_id
from audit.measure.targets import Target
from audit.model import Platform, Probe, SurfaceKind
from audit.policy.catalog import Catalog

PLAN_FILE = "plan.json"
PLAN_FORMAT = 1


class PlanError(HulianError):
    """A plan cannot be made or read; the message names the file or the option."""


def new_token() -> str:
    """'hp' + 10 lower-case base32 characters (50 bits): unique, and unchanged by any
    encoding a platform applies. The control link uses the same characters after 'hc'."""
    return "hp" + base64.b32encode(secrets.token_bytes(7)).decode()[:10].lower()


def control_token(token: str) -> str:
    return "hc" + token[2:]


@dataclass
class Plan:
    id: str
    source: str
    surface: SurfaceKind
    created: str
    probes: list[Probe]
    policies: str | None = None  # a policy directory next to plan.json (the lab's platforms)
    lab: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"format": PLAN_FORMAT, "id": self.id, "source": self.source,
                "surface": self.surface.value, "created": self.created, "lab": self.lab,
                "policies": self.policies, "notes": self.notes,
                "probes": [p.model_dump(mode="json") for p in self.probes]}

    def control_link(self, probe: Probe) -> str | None:
        if not probe.token:
            return None
        return add_token(probe.target_url, control_token(probe.token))


def default_targets(catalog: Catalog, source: Platform) -> list[Target]:
    """Without a target list: the home page of every platform of another company."""
    targets = []
    for platform in sorted(catalog.platforms.values(), key=lambda p: p.id):
        if platform.company == source.company or not platform.domains:
            continue
        domain = platform.domains[0]
        host = domain if domain.count(".") >= 2 else f"www.{domain}"
        targets.append(Target(f"https://{host}/", platform.category.value))
    return targets


def make_plan(catalog: Catalog, source: str, surface: SurfaceKind,
              targets: list[Target] | None = None) -> Plan:
    platform = catalog.platforms.get(source)
    if platform is None:
        raise PlanError(f"--source {source!r}: no such platform in the policies")
    chosen = targets if targets is not None else default_targets(catalog, platform)
    probes: list[Probe] = []
    seen: dict[str, str] = {}
    for target in chosen:
        key = target.url.split("#", 1)[0]
        if key in seen:
            continue  # the same target twice would make attribution without tokens ambiguous
        seen[key] = target.url
        token = new_token()
        owner = catalog.platform_for_url(target.url)
        probes.append(Probe(
            id=probe_id(source, surface.value, target.url), source=source, surface=surface,
            target_url=target.url, target_platform=owner.id if owner else None,
            link_url=add_token(target.url, token), token=token, category=target.category))
    if not probes:
        raise PlanError("no targets to plan")
    return Plan(id=_plan_id(), source=source, surface=surface, created=_now(), probes=probes)


def make_lab_plan(scenario_path: Path | None, source: str, surface: SurfaceKind) -> Plan:
    """A plan for the lab's chat (or any seed page): the lab cannot receive messages, so the
    links to click are those its page shows for this (source, surface), each with a token
    appended as if the tester had sent it; the lab's wrapper ignores the extra parameter."""
    scenario = load_scenario(scenario_path)
    site = Site(scenario)
    edges = [e for e in scenario.edges if e.source == source and e.surface is surface]
    if not edges:
        raise PlanError(f"the lab has no links for --source {source} --surface "
                        f"{surface.value}")
    probes = []
    for edge in edges:
        token = new_token()
        link = site.link_of(edge)
        target = site.target_url(edge)
        probes.append(Probe(
            id=probe_id(source, surface.value, target), source=source, surface=surface,
            target_url=target, target_platform=edge.target,
            seed_url=f"http://{scenario.platform(source).host}/s/{surface.value}/",
            link_url=add_token(link, token) if link else None,
            rendered_as="anchor" if link else "text", token=token))
    return Plan(id=_plan_id(), source=source, surface=surface, created=_now(), probes=probes,
                lab=True, notes=[f"lab scenario: {scenario.name or 'default'}"])


def _plan_id() -> str:
    return f"plan-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def write_plan(plan: Plan, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = [out / PLAN_FILE, out / "plan.md", out / "plan.html"]
    files[0].write_text(json.dumps(plan.as_dict(), ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
    files[1].write_text(markdown(plan), encoding="utf-8")
    files[2].write_text(printable_html(plan), encoding="utf-8")
    return files


def load_plan(path: Path) -> tuple[Plan, Path]:
    """The plan and the directory it lives in (`path` is plan.json or its directory)."""
    file = path / PLAN_FILE if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"{file}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise PlanError(f"{file}: not a plan (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise PlanError(f"{file}: not a hulian capture plan (format {PLAN_FORMAT})")
    try:
        plan = Plan(id=str(data["id"]), source=str(data["source"]),
                    surface=SurfaceKind(data["surface"]), created=str(data["created"]),
                    probes=[Probe.model_validate(p) for p in data["probes"]],
                    policies=data.get("policies"), lab=bool(data.get("lab")),
                    notes=list(data.get("notes") or []))
    except (KeyError, ValueError, TypeError) as exc:
        raise PlanError(f"{file}: invalid plan ({exc})") from None
    return plan, file.parent


def _instructions(plan: Plan) -> list[tuple[str, str]]:
    return [
        ("用另一个账号把每个“发送的链接”发到被测平台的该场景（私聊、群聊……），原样发送。",
         "From a second account, send each 'link to send' on the surface under test "
         "(private chat, group chat, ...), unchanged."),
        ("手机通过 `hulian capture record` 的代理上网（并信任 mitmproxy 证书），"
         "在应用内逐个点击链接；遇到“继续访问”按钮就点一次。",
         "With the phone using the `hulian capture record` proxy (mitmproxy's CA trusted), "
         "tap each link in the app; tap 'continue' once where a warning offers it."),
        ("链接没有打开目标时，再用手机浏览器直接打开“对照链接”（区分目标网站故障与平台拦截）。",
         "Where a link did not open its target, open the 'control link' in the phone's "
         "browser (separates a dead target from a block)."),
        ("记下每条链接的显示方式（可点击 / 纯文本 / 未显示）；不可点击的链接不用点。",
         "Note how each link was shown (clickable / plain text / missing); do not tap links "
         "that are not clickable."),
    ]


def markdown(plan: Plan) -> str:
    lines = [f"# hulian 测试计划 / test plan `{plan.id}`", "",
             f"- 平台 / platform: `{plan.source}`", f"- 场景 / surface: `{plan.surface.value}`",
             f"- 生成时间 / created: {plan.created}", f"- 链接数 / links: {len(plan.probes)}",
             *[f"- {note}" for note in plan.notes], "", "## 步骤 / steps", ""]
    for i, (zh, en) in enumerate(_instructions(plan), 1):
        lines += [f"{i}. {zh}  ", f"   {en}"]
    lines += ["", "## 链接 / links", "",
              "| # | 目标 target | 发送的链接 link to send | 对照链接 control link | 结果 result |",
              "|---|---|---|---|---|"]
    for i, probe in enumerate(plan.probes, 1):
        link = f"`{probe.link_url}`" if probe.link_url else "(纯文本 shown as text)"
        control = plan.control_link(probe)
        lines.append(f"| {i} | `{probe.target_url}` | {link} | "
                     f"{f'`{control}`' if control else ''} | ☐ |")
    lines += ["", "机器可读 / machine-readable: `plan.json` → `hulian capture record --plan` / "
              "`hulian capture analyze --plan`.", ""]
    return "\n".join(lines)


def _qr_svg(data: str) -> str:
    try:
        import segno
    except ImportError:  # optional at run time: the checklist works without pictures
        return ""
    return str(segno.make(data, error="m").svg_inline(scale=2, border=2))


def printable_html(plan: Plan) -> str:
    esc = html.escape
    rows = []
    for i, probe in enumerate(plan.probes, 1):
        link = probe.link_url
        control = plan.control_link(probe)
        rows.append(
            f"<tr><td>{i}</td><td class='qr'>{_qr_svg(link) if link else ''}</td>"
            f"<td><div class='target'>{esc(probe.target_url)}</div>"
            f"<div class='link'>{esc(link) if link else '(纯文本 shown as text)'}</div>"
            f"<div class='control'>{esc(control) if control else ''}</div></td>"
            f"<td class='check'>☐ 直接 ☐ 警告 ☐ 复制 ☐ 拦截 ☐ 其他</td></tr>")
    steps = "".join(f"<li>{esc(zh)}<br><span class='en'>{esc(en)}</span></li>"
                    for zh, en in _instructions(plan))
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>hulian 测试计划 {esc(plan.id)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", sans-serif; margin: 1.5em; font-size: 11pt; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #888; padding: 4px; vertical-align: top; }}
tr {{ page-break-inside: avoid; }}
.link, .control {{ font-family: monospace; word-break: break-all; font-size: 9pt; }}
.control {{ color: #555; }} .en {{ color: #555; }} .check {{ white-space: nowrap; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>hulian 测试计划 / test plan</h1>
<p>{esc(plan.id)} · 平台 platform <b>{esc(plan.source)}</b> · 场景 surface
<b>{esc(plan.surface.value)}</b> · {esc(plan.created)} · {len(plan.probes)} 条链接 links</p>
<ol>{steps}</ol>
<table><thead><tr><th>#</th><th>QR</th><th>目标 / 发送的链接 / 对照链接<br>target / link to send /
control link</th><th>结果 result</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table></body></html>
"""
