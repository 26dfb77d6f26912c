"""The lab's pages: a pure function of (scenario, host, path, query) to a Response.

URL layout (docs/lab.md):
  http://<host>/                     platform index, links to its seed pages
  http://<host>/s/<surface>/         seed page of one surface (chat rooms for im_private/im_group)
  http://<host>/item/<n>             a content page of the platform (a link target)
  http://<host>/down/<n>             503: a target that is down
  http://<host>/u/<name>             a profile (internal link)
  http://<host>/download?from=<E>    the app-download page diverted links end on
  http://<wrapper_host>/out?target=<T>&e=<E>[&scene=private|group]   the link wrapper
  http://<wrapper_host>/loop?e=<E>&n=1|2                             the redirect loop
  http://<any host>/robots.txt       the scenario's `robots` entry for the host, else allows
                                     everything (audit/lab/robots.py: search barriers)
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from urllib.parse import parse_qs, quote

from audit.lab.robots import RobotsSite
from audit.lab.scenario import Edge, Fault, LabPlatform, PageFaultKind, Scenario, Style
from audit.model import BlockReason, Lang, Outcome, SurfaceKind

HUGE_PAGE_BYTES = 20 * 1024 * 1024 + 64 * 1024  # more than the crawler's 20 MiB cut
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

# Phrases of the lab's anti-bot pages (captcha, 403, 429). None is an interstitial marker.
CAPTCHA_PHRASES = ("请输入验证码", "安全验证", "Security check", "enter the characters")


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    fault: Literal["hang", "reset"] | None = None


# ---------------------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------------------

_ZH_REASON = {
    BlockReason.REWARD_SHARING: "诱导分享", BlockReason.SCAM: "恶意欺诈",
    BlockReason.COPYRIGHT: "侵权", BlockReason.RUMOR: "谣言或虚假信息",
    BlockReason.ILLEGAL: "违法或违规", BlockReason.PORN: "色情低俗", BlockReason.OBSCENE: "低俗",
    BlockReason.LUCKY_MONEY: "虚假红包", BlockReason.NONSECURE: "不安全",
    BlockReason.MALWARE: "恶意软件",
}
_EN_REASON = {
    BlockReason.REWARD_SHARING: "inducing users to share",
    BlockReason.SCAM: "containing fraud", BlockReason.COPYRIGHT: "infringing copyright",
    BlockReason.RUMOR: "containing rumors or false information",
    BlockReason.ILLEGAL: "containing illegal or non-compliant contents",
    BlockReason.PORN: "containing pornographic contents",
    BlockReason.OBSCENE: "containing obscene contents",
    BlockReason.LUCKY_MONEY: "containing fake lucky money",
    BlockReason.NONSECURE: "containing nonsecure contents",
    BlockReason.MALWARE: "containing malwares",
}

_HANT_REASON = {
    BlockReason.REWARD_SHARING: "誘導分享", BlockReason.SCAM: "惡意欺詐",
    BlockReason.COPYRIGHT: "侵權", BlockReason.RUMOR: "謠言或虛假信息",
    BlockReason.ILLEGAL: "違法或違規", BlockReason.PORN: "色情低俗", BlockReason.OBSCENE: "低俗",
    BlockReason.LUCKY_MONEY: "虛假紅包", BlockReason.NONSECURE: "不安全",
    BlockReason.MALWARE: "惡意軟件",
}

COPY_ONLY_ZH = "如需浏览，请长按网址复制后使用浏览器访问"
COPY_ONLY_HANT = "如需瀏覽，請長按網址複製後使用瀏覽器訪問"
COPY_ONLY_EN = "To view this page, copy the link and open it in a browser."
BLOCKED_ZH = "已停止访问该网页"
BLOCKED_HANT = "已停止訪問該網頁"
BLOCKED_EN = "No access to this page"
# The wechat style's warning, per interface language: (heading, sentence with {name}, button).
WARNED_TEXTS: dict[Lang, tuple[str, str, str]] = {
    Lang.ZH_HANS: ("将要访问", "非{name}官方网页，请确认是否继续访问", "继续访问"),
    Lang.ZH_HANT: ("將要訪問", "非{name}官方網頁，請確認是否繼續訪問", "繼續訪問"),
    Lang.EN: ("You are about to visit", "This is not an official {name} page. Continue?",
              "Continue"),
}


def pick_language(accept_language: str, offered: list[Lang]) -> Lang:
    """The interface language a request asks for (its Accept-Language, by weight) among those
    a platform offers; the platform's first when none fits. zh-TW, zh-HK and zh-MO read as
    繁體, other Chinese tags as 简体."""
    best: tuple[float, int, Lang] | None = None
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if tag.startswith("zh"):
            hant = any(x in tag for x in ("-tw", "-hk", "-mo", "hant"))
            lang = Lang.ZH_HANT if hant else Lang.ZH_HANS
        elif tag.startswith("en"):
            lang = Lang.EN
        else:
            continue
        if lang in offered and weight > 0 and (best is None or (weight, -position) > best[:2]):
            best = (weight, -position, lang)
    return best[2] if best is not None else offered[0]


def block_sentence(reason: BlockReason, platform: LabPlatform, company_zh: str,
                   lang: Lang | None = None) -> str:
    """The stated reason, in WeChat's wording (domain-facts §2.7) with the fictional names."""
    lang = lang or platform.ui_languages[0]
    if lang is Lang.ZH_HANT:
        if reason is BlockReason.PHISHING:
            return f"據用戶投訴及{company_zh}手機管家雲網址檢測，該網頁可能包含惡意欺詐內容。"
        return f"該網頁包含{_HANT_REASON[reason]}內容，被多人投訴。為維護綠色上網環境，已停止訪問。"
    if lang is Lang.EN:
        if reason is BlockReason.PHISHING:
            return ("This site you are trying to visit is suspected of phishing or hosting "
                    f"malware and has been blocked by {platform.name.en}.")
        return f"No access to this page as it's reported of {_EN_REASON[reason]}."
    if reason is BlockReason.PHISHING:
        return f"据用户投诉及{company_zh}手机管家云网址检测，该网页可能包含恶意欺诈内容。"
    return f"该网页包含{_ZH_REASON[reason]}内容，被多人投诉。为维护绿色上网环境，已停止访问。"


def warned_markers(platform: LabPlatform, lang: Lang | None = None
                   ) -> tuple[list[str], list[str]]:
    """(markers_all, markers_any) of the platform's warning interstitial."""
    name = platform.name.zh
    if platform.style is Style.WECHAT:
        _heading, sentence, button = WARNED_TEXTS[lang or Lang.ZH_HANS]
        shown = platform.name.en if lang is Lang.EN else name
        return [sentence.format(name=shown).split("，")[0].split(". ")[0], button], []
    if platform.style is Style.ZHIHU:
        return [], [f"即将离开{name}", f"您即将离开{name}，请注意您的帐号和财产安全。"]
    if platform.style is Style.WEIBO:
        return ["将要访问", "继续访问"], []
    return [], [f"You are about to leave {platform.name.en}"]


_CSS = (
    "body{font-family:sans-serif;max-width:42em;margin:1em auto;color:#222}"
    ".msg{margin:.6em 0}.who{font-size:.8em;color:#888}.bubble{display:inline-block;"
    "background:#eee;border-radius:8px;padding:.4em .7em}.me .bubble{background:#9e6}"
    ".result,.comment,.feed{border-bottom:1px solid #ddd;padding:.5em 0}.link{color:#555}"
    ".btn,.weui-btn,.button{display:inline-block;padding:.4em 1.2em;background:#07c160;"
    "color:#fff;border-radius:4px;text-decoration:none}"
)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _document(title: str, body: str, lang: str, head: str = "", charset: str = "utf-8") -> str:
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="{charset}">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_e(title)}</title>{head}<style>{_CSS}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _html(status: int, text: str, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, (("Content-Type", "text/html; charset=utf-8"), *extra),
                    text.encode("utf-8"))


def _text(status: int, text: str, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, (("Content-Type", "text/plain; charset=utf-8"), *extra),
                    text.encode("utf-8"))


def _redirect(location: str, status: int = 302) -> Response:
    return Response(status, (("Location", location), ("Content-Type", "text/plain")),
                    f"Redirecting to {location}\n".encode())


# ---------------------------------------------------------------------------------------
# The site
# ---------------------------------------------------------------------------------------

_SURFACE_ZH = {
    SurfaceKind.IM_PRIVATE: "私聊", SurfaceKind.IM_GROUP: "群聊", SurfaceKind.MOMENTS: "动态",
    SurfaceKind.POST: "帖子", SurfaceKind.COMMENT: "评论", SurfaceKind.ARTICLE: "文章",
    SurfaceKind.PROFILE: "个人主页", SurfaceKind.SEARCH: "搜索结果",
    SurfaceKind.MINI_PROGRAM: "小程序", SurfaceKind.DOCUMENT: "文档", SurfaceKind.MAIL: "邮件",
}
_SURFACE_EN = {
    SurfaceKind.IM_PRIVATE: "Private chat", SurfaceKind.IM_GROUP: "Group chat",
    SurfaceKind.MOMENTS: "Moments", SurfaceKind.POST: "Post", SurfaceKind.COMMENT: "Comments",
    SurfaceKind.ARTICLE: "Article", SurfaceKind.PROFILE: "Profile",
    SurfaceKind.SEARCH: "Search results", SurfaceKind.MINI_PROGRAM: "Mini program",
    SurfaceKind.DOCUMENT: "Document", SurfaceKind.MAIL: "Mail",
}
_PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank")
_PEOPLE_ZH = ("小红", "小明", "阿强", "老王", "小美", "大刘")
_SAYS_ZH = ("看看这个", "推荐一下", "这个不错", "链接在这里", "帮忙砍一刀", "刚看到的")
_SAYS_EN = ("Look at this", "Recommended", "Nice one", "Here is the link", "Just saw this",
            "Worth a read")


@dataclass
class Site:
    """Everything the server answers for one scenario. Responses are cached: every page is a
    pure function of (host, path, query)."""

    scenario: Scenario
    by_host: dict[str, tuple[LabPlatform, str]] = field(init=False)
    edges_by_id: dict[str, Edge] = field(init=False)
    edges_by_page: dict[tuple[str, SurfaceKind], list[Edge]] = field(init=False)
    page_faults: dict[tuple[str, SurfaceKind], PageFaultKind] = field(init=False)
    company_zh: dict[str, str] = field(init=False)
    robots: RobotsSite = field(init=False)
    _cached: Callable[[str, str, str, str], Response] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        s = self.scenario
        self.by_host = {}
        for p in s.platforms:
            self.by_host[p.host] = (p, "site")
            self.by_host[p.wrapper_host] = (p, "wrapper")
        self.edges_by_id = {e.id: e for e in s.edges}
        self.edges_by_page = {}
        for e in s.edges:
            self.edges_by_page.setdefault((e.source, e.surface), []).append(e)
        self.page_faults = {(f.platform, f.surface): f.fault for f in s.page_faults}
        self.company_zh = {c.id: c.name.zh for c in s.companies}
        self.robots = RobotsSite(s)
        # (host, path, query, accept-language) -> Response; every page is a pure function
        # of these.
        self._cached = lru_cache(maxsize=4096)(self._respond)

    def respond(self, host: str, path: str, query: str = "",
                accept_language: str = "") -> Response:
        """The lab's answer; the platform's interface language from `accept_language`."""
        return self._cached(host, path, query, accept_language)

    # -- URLs ------------------------------------------------------------------------------

    def target_url(self, edge: Edge) -> str:
        target = self.scenario.platform(edge.target)
        kind = "down" if edge.outcome is Outcome.TARGET_DOWN else "item"
        return f"http://{target.host}/{kind}/{edge.item}"

    def wrapper_url(self, edge: Edge) -> str:
        source = self.scenario.platform(edge.source)
        url = (f"http://{source.wrapper_host}/out?target={quote(self.target_url(edge), safe='')}"
               f"&e={edge.id}")
        scene = {SurfaceKind.IM_PRIVATE: "private", SurfaceKind.IM_GROUP: "group"}
        if edge.surface in scene:
            url += f"&scene={scene[edge.surface]}"
        return url

    def link_of(self, edge: Edge) -> str | None:
        """What the seed page links for an edge; None when it shows the URL as text only."""
        if edge.outcome is Outcome.STRIPPED:
            return None
        if edge.outcome is Outcome.DIRECT or (
                edge.outcome is Outcome.TARGET_DOWN and edge.via != "http"):
            return self.target_url(edge)
        return self.wrapper_url(edge)

    def seeds(self, platform: LabPlatform) -> list[str]:
        return [f"http://{platform.host}/s/{s.value}/" for s in platform.surfaces]

    # -- dispatch --------------------------------------------------------------------------

    def _respond(self, host: str, path: str, query: str, accept_language: str) -> Response:
        host = host.lower().rstrip(".")
        robots = self.robots.respond(host, path)
        if robots is not None:
            return Response(*robots)
        found = self.by_host.get(host)
        if found is None:
            if host in LOOPBACK_HOSTS:
                return _html(200, self._directory())
            return _text(502, f"hulian lab: unknown host {host!r} (not in the scenario)\n")
        platform, role = found
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if role == "wrapper":
            lang = pick_language(accept_language, platform.ui_languages)
            return self._wrapper(platform, path, params, lang)
        return self._site(platform, path, params)

    def _site(self, p: LabPlatform, path: str, params: dict[str, str]) -> Response:
        parts = [x for x in path.split("/") if x]
        if not parts:
            return _html(200, self._index(p))
        head, rest = parts[0], parts[1:]
        if head == "s" and len(rest) == 1:
            try:
                surface = SurfaceKind(rest[0])
            except ValueError:
                surface = None
            if surface is not None and surface in p.surfaces:
                return self._seed(p, surface)
        if head in ("item", "down") and len(rest) == 1 and rest[0].isdigit():
            if head == "down":
                return _html(503, _document("503 Service Unavailable",
                                            "<h1>503 Service Unavailable</h1>"
                                            "<p>服务暂时不可用 / temporarily unavailable</p>",
                                            p.lang), (("Retry-After", "3600"),))
            return _html(200, self._item(p, int(rest[0])))
        if head == "u" and len(rest) == 1:
            return _html(200, self._user(p, rest[0]))
        if head == "download" and not rest:
            return _html(200, self._download(p))
        return _text(404, "404 not found\n")

    # -- content pages ---------------------------------------------------------------------

    def _nav(self, p: LabPlatform) -> str:
        zh = p.lang == "zh"
        links = [f'<a href="/">{_e(p.name.zh if zh else p.name.en)}</a>']
        links += [f'<a href="/s/{s.value}/">{_e((_SURFACE_ZH if zh else _SURFACE_EN)[s])}</a>'
                  for s in p.surfaces]
        return f'<nav class="nav">{" | ".join(links)}</nav>'

    def _index(self, p: LabPlatform) -> str:
        zh = p.lang == "zh"
        name = p.name.zh if zh else p.name.en
        items = "".join(
            f'<li><a href="/s/{s.value}/">{_e((_SURFACE_ZH if zh else _SURFACE_EN)[s])}</a></li>'
            for s in p.surfaces)
        owner = _e(self.company_zh[p.company])
        intro = (f"<p>{_e(name)}（{owner}旗下）——虚构平台，仅用于 hulian 实验室。</p>"
                 if zh else f"<p>{_e(name)} is a fictional platform of the hulian lab.</p>")
        return _document(name, f"<h1>{_e(name)}</h1>{intro}<ul>{items}</ul>"
                               f'<p><a href="/u/{_PEOPLE[0]}">@{_PEOPLE[0]}</a></p>', p.lang)

    def _item(self, p: LabPlatform, n: int) -> str:
        zh = p.lang == "zh"
        name = p.name.zh if zh else p.name.en
        noun = ("商品" if p.category.value == "ecommerce" else "内容") if zh else "Item"
        title = f"{name} · {noun} {n}"
        text = (f"<p>这是{_e(name)}上的{noun} {n}。虚构内容，供测试使用。</p>" if zh
                else f"<p>This is item {n} on {_e(name)}. Fictional content for tests.</p>")
        body = (f"{self._nav(p)}<h1>{_e(title)}</h1>{text}"
                f'<p><a href="/item/{n + 1}">{"下一个" if zh else "Next"}</a> · '
                f'<a href="/u/{_PEOPLE[n % len(_PEOPLE)]}">@{_PEOPLE[n % len(_PEOPLE)]}</a></p>')
        return _document(title, body, p.lang)

    def _user(self, p: LabPlatform, user: str) -> str:
        title = f"@{user} · {p.name.zh if p.lang == 'zh' else p.name.en}"
        return _document(title, f"{self._nav(p)}<h1>{_e(title)}</h1>"
                                f'<p><a href="/item/1">1</a> <a href="/item/2">2</a></p>', p.lang)

    def _download(self, p: LabPlatform) -> str:
        if p.lang == "zh":
            title = f"下载{p.name.zh}App"
            body = (f'<div class="download"><h1>{_e(title)}</h1>'
                    f"<p>该内容仅支持在{_e(p.name.zh)}App内查看，请下载{_e(p.name.zh)}App后打开。</p>"
                    f'<a class="btn" href="/download">立即下载</a></div>')
        else:
            title = f"Get the {p.name.en} app"
            body = (f'<div class="download"><h1>{_e(title)}</h1>'
                    f"<p>Open this in the {_e(p.name.en)} app to view it.</p>"
                    f'<a class="btn" href="/download">Download</a></div>')
        return _document(title, body, p.lang)

    def _directory(self) -> str:
        rows = "".join(
            f"<li>{_e(p.name.zh)} / {_e(p.name.en)} ({_e(p.company)}): "
            + " ".join(f"<code>{_e(u)}</code>" for u in self.seeds(p)) + "</li>"
            for p in self.scenario.platforms)
        body = ("<h1>hulian lab</h1><p>Use this server as an HTTP proxy to browse the "
                f"<code>*.lab</code> hosts.</p><ul>{rows}</ul>")
        return _document("hulian lab", body, "en")

    def _anchor_label(self, edge: Edge, zh: bool) -> str:
        target = self.scenario.platform(edge.target)
        noun = "商品" if target.category.value == "ecommerce" else "内容"
        return (f"{target.name.zh} · {noun} {edge.item}" if zh
                else f"{target.name.en} · item {edge.item}")

    def _edge_html(self, p: LabPlatform, edge: Edge) -> str:
        """One link of an edge as the seed page renders it."""
        href = self.link_of(edge)
        shown = self.target_url(edge)
        zh = p.lang == "zh"
        if href is None:
            if p.style is Style.WEIBO:
                # Weibo relabels links as "网页链接"; here the label is not even a link.
                return (f'<span class="url-icon"></span><span class="surl-text">网页链接</span> '
                        f'<span class="url">{_e(shown)}</span>')
            return f'<span class="url">{_e(shown)}</span>'
        label = (_e(shown) if edge.surface in (SurfaceKind.IM_PRIVATE, SurfaceKind.IM_GROUP)
                 else _e(self._anchor_label(edge, zh)))
        return f'<a href="{_e(href)}">{label}</a>'

    def _seed_body(self, p: LabPlatform, surface: SurfaceKind) -> str:
        zh = p.lang == "zh"
        edges = self.edges_by_page.get((p.id, surface), [])
        people = _PEOPLE_ZH if zh else tuple(x.capitalize() for x in _PEOPLE)
        says = _SAYS_ZH if zh else _SAYS_EN
        name = p.name.zh if zh else p.name.en
        heading = (_SURFACE_ZH if zh else _SURFACE_EN)[surface]
        out = [self._nav(p)]
        if surface in (SurfaceKind.IM_PRIVATE, SurfaceKind.IM_GROUP):
            group = surface is SurfaceKind.IM_GROUP
            room = (("群聊：购物交流群（23）" if group else f"与 {people[1]} 的聊天") if zh
                    else ("Group: Shopping friends (23)" if group else f"Chat with {people[1]}"))
            out.append(f'<h1 class="chat-title">{_e(room)}</h1><div class="chat">')
            out.append(f'<div class="msg"><div class="who">{people[1]}</div>'
                       f'<div class="bubble">{"在吗？" if zh else "Hi!"}</div></div>')
            for i, edge in enumerate(edges):
                who = people[(i % (len(people) - 1)) + 1] if group else people[1 + i % 2]
                mine = ' me' if (not group and i % 2) else ''
                out.append(f'<div class="msg{mine}"><div class="who">{_e(who)}</div>'
                           f'<div class="bubble">{_e(says[i % len(says)])} '
                           f"{self._edge_html(p, edge)}</div></div>")
            out.append(f'<div class="msg"><div class="who">{people[2]}</div><div class="bubble">'
                       f'<a href="/u/{_PEOPLE[2]}">@{_PEOPLE[2]}</a></div></div></div>')
            return "".join(out)
        out.append(f"<h1>{_e(name)} · {_e(heading)}</h1>")
        item_class = {SurfaceKind.SEARCH: "result", SurfaceKind.COMMENT: "comment",
                      SurfaceKind.MOMENTS: "feed"}.get(surface, "para")
        intro = (f"<p>{_e(name)}{_e(heading)}示例，虚构内容。</p>" if zh
                 else f"<p>A sample {_e(heading.lower())} on {_e(name)}; fictional content.</p>")
        out.append(intro + '<div class="content">')
        for i, edge in enumerate(edges):
            who = _PEOPLE[i % len(_PEOPLE)]
            out.append(f'<div class="{item_class}"><a class="user" href="/u/{who}">@{who}</a> '
                       f"{_e(says[i % len(says)])}： {self._edge_html(p, edge)}</div>"
                       if zh else
                       f'<div class="{item_class}"><a class="user" href="/u/{who}">@{who}</a> '
                       f"{_e(says[i % len(says)])}: {self._edge_html(p, edge)}</div>")
        out.append(f'</div><p><a href="http://{p.host}/item/1">'
                   f'{"更多" if zh else "More"}</a></p>')
        return "".join(out)

    def _seed(self, p: LabPlatform, surface: SurfaceKind) -> Response:
        fault = self.page_faults.get((p.id, surface))
        title = f"{p.name.zh if p.lang == 'zh' else p.name.en} · " + (
            (_SURFACE_ZH if p.lang == "zh" else _SURFACE_EN)[surface])
        body = self._seed_body(p, surface)
        if fault is PageFaultKind.GBK:
            page = _document(title, body, p.lang, charset="gbk")
            return Response(200, (("Content-Type", "text/html; charset=gbk"),),
                            page.encode("gbk"))
        if fault is PageFaultKind.GBK_LYING_META:
            page = _document(title, body, p.lang, charset="utf-8")
            return Response(200, (("Content-Type", "text/html"),), page.encode("gbk"))
        if fault is PageFaultKind.HUGE_20MB:
            head = _document(title, body, p.lang).encode("utf-8")
            head = head[: head.rindex(b"</body>")]
            filler = b"<!-- " + b"padding " * ((HUGE_PAGE_BYTES - len(head)) // 8) + b"-->\n"
            return Response(200, (("Content-Type", "text/html; charset=utf-8"),),
                            head + filler + b"</body></html>\n")
        # Robots metas (noindex for some engine) where the scenario puts them.
        return _html(200, _document(title, body, p.lang, head=self.robots.page_meta(p.host)))

    # -- the wrapper -----------------------------------------------------------------------

    def _wrapper(self, p: LabPlatform, path: str, params: dict[str, str],
                 lang: Lang) -> Response:
        edge = self.edges_by_id.get(params.get("e", ""))
        if edge is not None and edge.source != p.id:
            edge = None
        if path == "/loop" and edge is not None:
            n = "2" if params.get("n") == "1" else "1"
            return _redirect(f"http://{p.wrapper_host}/loop?e={edge.id}&n={n}")
        if path not in ("/out", "/out/"):
            if path == "/":
                return _html(200, _document(p.name.en, f"<h1>{_e(p.name.zh)} link service</h1>",
                                            p.lang))
            return _text(404, "404 not found\n")
        if edge is None:
            target = params.get("target", "")
            if target.startswith(("http://", "https://")):
                return _redirect(target)
            return _text(400, "400 bad request: no target\n")
        return self._edge_answer(p, edge, lang)

    def _edge_answer(self, p: LabPlatform, edge: Edge, lang: Lang) -> Response:
        target = self.target_url(edge)
        outcome = edge.outcome
        if edge.wording == "new":
            return _html(200, self._new_wording(p, outcome, target))
        if outcome is Outcome.WRAPPED and edge.via == "meta_refresh":
            return _html(200, self._redirecting(p, f'<meta http-equiv="refresh" '
                                                   f'content="0;url={_e(target)}">', ""))
        if outcome is Outcome.WRAPPED and edge.via == "js":
            script = f"<script>window.location.href={json.dumps(target)};</script>"
            return _html(200, self._redirecting(p, "", script))
        if outcome is Outcome.WARNED:
            return _html(200, self._warned(p, target, lang))
        if outcome is Outcome.COPY_ONLY:
            return _html(200, self._copy_only(p, target, lang))
        if outcome is Outcome.BLOCKED:
            return _html(200, self._blocked(p, edge.reason or BlockReason.ILLEGAL, lang))
        if outcome is Outcome.DIVERTED:
            return _redirect(f"http://{p.host}/download?from={edge.id}")
        if outcome is Outcome.ERROR:
            return self._fault(p, edge, edge.fault or Fault.HANG)
        return _redirect(target)  # direct, wrapped via http, target_down via http, stripped

    def _redirecting(self, p: LabPlatform, head: str, script: str) -> str:
        zh = p.lang == "zh"
        return _document("正在跳转" if zh else "Redirecting",
                         f"<p>{'正在跳转…' if zh else 'Redirecting…'}</p>{script}", p.lang, head)

    def _new_wording(self, p: LabPlatform, outcome: Outcome, target: str) -> str:
        """An interstitial in a wording no signature knows (the platform rewrote its pages):
        its structure still tells warned, copy_only and blocked apart; the `unrecognized`
        one shows the target with neither a way on nor an instruction."""
        t = _e(target)
        if outcome is Outcome.WARNED:
            body = (f'<div class="notice"><h2>外链提示</h2><p class="url">{t}</p>'
                    f'<a class="go" href="{t}">前往</a> <a href="/">回到{_e(p.name.zh)}</a>'
                    "</div>")
        elif outcome is Outcome.COPY_ONLY:
            body = ('<div class="notice"><h2>链接已收起</h2>'
                    "<p>请长按复制下方地址，在系统自带的浏览器中打开。</p>"
                    f'<p class="url">{t}</p></div>')
        elif outcome is Outcome.BLOCKED:
            body = ('<div class="notice"><h2>此链接暂时无法打开</h2>'
                    "<p>经系统检测，该链接存在风险，暂不支持在此打开。</p>"
                    '<a href="javascript:history.back()">返回</a></div>')
        else:
            body = ('<div class="notice"><h2>链接安全检测中</h2>'
                    f'<p class="url">{t}</p><p>检测结果将以通知形式发送给您。</p></div>')
        return _document("提示", body, "zh")

    def _warned(self, p: LabPlatform, target: str, lang: Lang = Lang.ZH_HANS) -> str:
        zh, en, t = p.name.zh, p.name.en, _e(target)
        if p.style is Style.WECHAT:
            heading, sentence, button = WARNED_TEXTS[lang]
            name = en if lang is Lang.EN else zh
            body = ('<div class="weui-msg"><div class="weui-msg__text-area">'
                    f'<h2 class="weui-msg__title">{_e(heading)}</h2>'
                    f'<p class="weui-msg__desc link">{t}</p>'
                    f'<p class="weui-msg__desc">{_e(sentence.format(name=name))}</p></div>'
                    '<div class="weui-msg__opr-area">'
                    f'<a class="weui-btn weui-btn_default" href="{t}">{_e(button)}</a>'
                    "</div></div>")
            return _document({Lang.EN: "Notice", Lang.ZH_HANT: "提示"}.get(lang, "提示"), body,
                             lang.value)
        if p.style is Style.ZHIHU:
            body = (f'<div class="card"><h2 class="title">即将离开{_e(zh)}</h2>'
                    f'<p class="info">您即将离开{_e(zh)}，请注意您的帐号和财产安全。</p>'
                    f'<p class="link">{t}</p><a class="button" href="{t}">继续访问</a></div>')
            return _document(f"即将离开{zh}", body, "zh")
        if p.style is Style.WEIBO:
            body = (f'<div class="wrap"><h2>将要访问</h2><div class="desc link">{t}</div>'
                    f"<p>该网页不是{_e(zh)}官方网页，请注意保护好个人信息。</p>"
                    f'<div class="open-url"><a class="btn" href="{t}">继续访问</a></div></div>')
            return _document(zh, body, "zh")
        body = (f'<div class="card"><h2>You are about to leave {_e(en)}</h2>'
                f"<p>This page is not operated by {_e(en)}. Check the address first:</p>"
                f'<p class="link">{t}</p><a class="btn" href="{t}">Continue</a></div>')
        return _document(f"Leaving {en}", body, "en")

    def _copy_only(self, p: LabPlatform, target: str, lang: Lang = Lang.ZH_HANS) -> str:
        t = _e(target)
        if lang is Lang.ZH_HANT:
            body = (f'<div class="weui-msg"><h2 class="title">{COPY_ONLY_HANT}</h2>'
                    f'<p class="link">{t}</p></div>')
            return _document(p.name.zh, body, lang.value)
        if p.lang == "en" or lang is Lang.EN:
            body = (f'<div class="card"><h2>{_e(COPY_ONLY_EN)}</h2>'
                    f'<p class="link">{t}</p></div>')
            return _document(p.name.en, body, "en")
        wrap = {Style.WECHAT: "weui-msg", Style.WEIBO: "wrap"}.get(p.style, "card")
        body = (f'<div class="{wrap}"><h2 class="title">{COPY_ONLY_ZH}</h2>'
                f'<p class="link">{t}</p></div>')
        return _document(p.name.zh, body, "zh")

    def _blocked(self, p: LabPlatform, reason: BlockReason, lang: Lang = Lang.ZH_HANS) -> str:
        if lang not in p.ui_languages:
            lang = p.ui_languages[0]
        sentence = _e(block_sentence(reason, p, self.company_zh[p.company], lang))
        if lang is Lang.ZH_HANT:
            body = (f'<div class="weui-msg"><h2 class="title">{BLOCKED_HANT}</h2>'
                    f'<p class="desc">{sentence}</p></div>')
            return _document(BLOCKED_HANT, body, lang.value)
        if lang is Lang.EN:
            body = f'<div class="card"><h2>{BLOCKED_EN}</h2><p class="desc">{sentence}</p></div>'
            return _document(BLOCKED_EN, body, "en")
        wrap = {Style.WECHAT: "weui-msg", Style.WEIBO: "wrap"}.get(p.style, "card")
        body = (f'<div class="{wrap}"><h2 class="title">{BLOCKED_ZH}</h2>'
                f'<p class="desc">{sentence}</p></div>')
        return _document(BLOCKED_ZH, body, "zh")

    def _fault(self, p: LabPlatform, edge: Edge, fault: Fault) -> Response:
        if fault is Fault.HANG:
            return Response(200, fault="hang")
        if fault is Fault.RESET:
            return Response(200, fault="reset")
        if fault is Fault.REDIRECT_LOOP:
            return _redirect(f"http://{p.wrapper_host}/loop?e={edge.id}&n=1")
        if fault is Fault.ANTI_BOT_403:
            return _html(403, _document("403 Forbidden", "<h1>403 Forbidden</h1>"
                                        "<p>访问被拒绝 / Access denied</p>", p.lang))
        if fault is Fault.RATE_LIMIT_429:
            return _html(429, _document("429 Too Many Requests", "<h1>429</h1>"
                                        "<p>请求过于频繁，请稍后再试 / Too many requests</p>",
                                        p.lang), (("Retry-After", "1"),))
        body = ('<div class="captcha"><h2>安全验证 / Security check</h2>'
                "<p>请输入验证码 / Please enter the characters below</p>"
                '<form method="get" action="/out"><img alt="captcha" src="/captcha.png">'
                '<input name="code"><button type="submit">提交 / Submit</button></form></div>')
        return _html(200, _document("安全验证 / Security check", body, p.lang))


def render(scenario: Scenario, host: str, path: str, query: str = "",
           accept_language: str = "") -> Response:
    """One response of the lab, without a server (builds the site each call)."""
    return Site(scenario).respond(host, path, query, accept_language)
