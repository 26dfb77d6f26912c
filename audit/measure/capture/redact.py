"""Privacy by default: secrets in captured traffic (cookies, Authorization headers, session
ids, tickets, phone numbers, OpenIDs, e-mail addresses, JWTs) are replaced before anything is
written, unless the user asks to keep them (`--keep-secrets`).

A capture of app traffic is the tester's own account: its evidence must be shareable with a
regulator without handing over the account. Probe tokens (`hulian_probe`) are not secrets;
they are kept so that evidence can be attributed.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from audit.model import Hop, Observation, PageFacts, Probe

MASK = "REDACTED"

# Query/form/JSON keys whose values are credentials or personal data (compared lower case,
# with '-' read as '_'). Matched as whole names or as the last `_`-separated part, so
# `pass_ticket`, `x_auth_token` and `user_phone` are caught and `category` is not.
SECRET_NAMES = frozenset({
    "token", "access_token", "refresh_token", "id_token", "auth", "authorization", "sid",
    "ssid", "session", "sessionid", "session_id", "jsessionid", "phpsessid", "ticket",
    "pass_ticket", "skey", "p_skey", "key", "apikey", "api_key", "secret", "password",
    "passwd", "pwd", "openid", "open_id", "unionid", "union_id", "uin", "uid", "phone",
    "mobile", "tel", "telephone", "email", "mail", "code", "signature", "sig", "sign",
    "cookie", "csrf", "csrftoken", "xsrf", "wxuin", "devicetoken", "device_id", "deviceid",
    "imei", "idfa", "oaid", "openudid",
})
SECRET_SUFFIXES = ("token", "ticket", "session", "sessid", "secret", "password", "openid",
                   "unionid", "phone", "mobile", "skey", "apikey", "signature")
# Never masked, whatever their name says.
KEEP_NAMES = frozenset({"hulian_probe"})

SECRET_HEADERS = frozenset({
    "cookie", "set-cookie", "authorization", "proxy-authorization", "x-csrf-token",
    "x-xsrf-token", "x-api-key", "x-auth-token", "x-access-token", "x-tt-token",
    "x-wechat-key", "x-wechat-uin", "x-session-id",
})

# Values that are personal data wherever they appear: mainland mobile numbers, e-mail
# addresses, JWTs, WeChat OpenIDs (o + 27 url-safe base64 chars), bearer credentials.
_PHONE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9]{9}(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_OPENID = re.compile(r"(?<![A-Za-z0-9_-])o[A-Za-z0-9_-]{5}[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")
_BEARER = re.compile(r"(?i)\b(bearer|basic|digest)\s+[A-Za-z0-9._~+/=-]+")
# name=value pairs (query strings, forms, cookies) and "name": "value" (JSON).
_PAIR = re.compile(r"(?P<name>[A-Za-z0-9_.-]{1,40})(?P<sep>=)(?P<value>[^&;\s\"'<>]*)")
_JSON_PAIR = re.compile(
    r"\"(?P<name>[A-Za-z0-9_.-]{1,40})\"(?P<sep>\s*:\s*)(?P<value>\"(?:[^\"\\]|\\.)*\"|-?\d+)")


def secret_name(name: str) -> bool:
    key = name.strip().lower().replace("-", "_")
    if key in KEEP_NAMES:
        return False
    return key in SECRET_NAMES or key.endswith(SECRET_SUFFIXES) or (
        "_" in key and key.rsplit("_", 1)[1] in SECRET_NAMES)


def _values(text: str) -> str:
    for pattern in (_JWT, _BEARER, _EMAIL, _PHONE, _OPENID):
        text = pattern.sub(MASK, text)
    return text


def text(value: str) -> str:
    """Masks secrets in free text: bodies, page excerpts, header values."""
    def pair(match: re.Match[str]) -> str:
        if secret_name(match.group("name")):
            quoted = match.group("value").startswith('"')
            head = match.group(0)[: match.start("value") - match.start()]
            return head + (f'"{MASK}"' if quoted else MASK)
        return match.group(0)

    value = _JSON_PAIR.sub(pair, value)
    value = _PAIR.sub(pair, value)
    return _values(value)


def url(value: str | None, _depth: int = 0) -> str | None:
    """Masks secret query parameters (also inside a wrapped target URL, any depth) and
    personal data in the path; keeps the URL's shape and the probe token."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return text(value)
    if not parts.scheme or not parts.netloc:
        return text(value)
    netloc = parts.netloc
    if "@" in netloc:  # user:password@host
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query_items = []
    changed = False
    for name, item in parse_qsl(parts.query, keep_blank_values=True):
        new = item
        if secret_name(name):
            new = MASK
        elif _depth < 3 and re.match(r"(?i)^https?(://|%3a)", item):
            new = url(unquote(item) if item.lower().startswith("http%3a") or
                      item.lower().startswith("https%3a") else item, _depth + 1) or item
        else:
            new = _values(item)
        changed = changed or new != item
        query_items.append((name, new))
    query = parts.query
    if changed:
        query = "&".join(f"{quote(n, safe='')}={quote(v, safe='/:')}" for n, v in query_items)
    path = _values(unquote(parts.path))
    path = parts.path if path == unquote(parts.path) else quote(path, safe="/%:@!$&'()*+,;=")
    fragment = _values(parts.fragment)
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def headers(values: dict[str, str]) -> dict[str, str]:
    return {name: (MASK if name.lower() in SECRET_HEADERS or secret_name(name) else text(v))
            for name, v in values.items()}


def hop(value: Hop) -> Hop:
    return value.model_copy(update={"url": url(value.url), "location": url(value.location)})


def page(value: PageFacts | None) -> PageFacts | None:
    if value is None:
        return None
    return value.model_copy(update={
        "target": url(value.target), "continue_url": url(value.continue_url),
        "title": text(value.title) if value.title else value.title,
        "excerpt": text(value.excerpt) if value.excerpt else value.excerpt,
    })


def observation(value: Observation) -> Observation:
    return value.model_copy(update={
        "target_url": url(value.target_url), "final_url": url(value.final_url),
        "hops": [hop(h) for h in value.hops], "page": page(value.page),
        "failure": text(value.failure) if value.failure else value.failure,
    })


def probe(value: Probe) -> Probe:
    return value.model_copy(update={
        "target_url": url(value.target_url), "link_url": url(value.link_url),
        "seed_url": url(value.seed_url),
    })
