"""Charset decoding of pages: BOMs, headers, meta tags that lie, legacy Chinese codecs."""

from __future__ import annotations

import codecs

from hypothesis import given
from hypothesis import strategies as st

from audit.web.decode import decode_html, header_charset, meta_charset

ZH = "如需浏览，请长按网址复制后使用浏览器访问"


def _page(meta: str, body: str) -> str:
    return f'<html><head><meta charset="{meta}"><title>t</title></head><body>{body}</body></html>'


def test_utf8_page() -> None:
    decoded = decode_html(_page("utf-8", ZH).encode("utf-8"))
    assert ZH in decoded.text and decoded.encoding == "utf-8"


def test_gbk_page_with_lying_utf8_meta() -> None:
    # A saved file's declaration may be stale: its bytes decide.
    decoded = decode_html(_page("utf-8", ZH).encode("gbk"), saved=True)
    assert ZH in decoded.text
    assert decoded.encoding == "gb18030"
    # An answer is read as a browser reads it: UTF-8, as declared, the GBK bytes unreadable.
    answered = decode_html(_page("utf-8", ZH).encode("gbk"))
    assert (answered.encoding, answered.decided_by) == ("utf-8", "meta")
    assert ZH not in answered.text and "\ufffd" in answered.text


def test_gb2312_declared_gbk_served_uses_gb18030_superset() -> None:
    text = "镕" + ZH  # 镕 is in GBK but not in GB2312
    decoded = decode_html(_page("gb2312", text).encode("gbk"))
    assert text in decoded.text and decoded.decided_by == "meta"


def test_utf8_page_declaring_gbk_is_read_as_utf8_when_saved() -> None:
    decoded = decode_html(_page("gbk", ZH).encode("utf-8"), saved=True)
    assert ZH in decoded.text and decoded.decided_by == "utf8"
    # Answered so, Chromium shows GBK mojibake, and so does hulian (a lead byte that
    # swallows a backslash in one reading and not the other changes what a script does).
    answered = decode_html(_page("gbk", ZH).encode("utf-8"))
    assert (answered.encoding, answered.decided_by) == ("gb18030", "meta")
    assert ZH not in answered.text


def test_big5_page() -> None:
    text = "請長按網址複製後使用瀏覽器訪問"
    decoded = decode_html(_page("big5", text).encode("big5"))
    assert text in decoded.text


def test_header_charset_wins_over_missing_meta() -> None:
    data = f"<html><body>{ZH}</body></html>".encode("gb18030")
    decoded = decode_html(data, "text/html; charset=GBK")
    assert ZH in decoded.text and decoded.decided_by == "header"


def test_boms() -> None:
    assert decode_html(codecs.BOM_UTF8 + ZH.encode()).text == ZH
    assert decode_html(ZH.encode("utf-16")).text == ZH


def test_truncation_is_reported_and_cuts_at_a_tag() -> None:
    data = ("<p>" + ZH + "</p>").encode() * 1000
    decoded = decode_html(data, max_bytes=5000)
    assert decoded.truncated
    assert "\ufffd" not in decoded.text
    assert len(decoded.text.encode()) <= 5000


def test_charset_helpers() -> None:
    assert header_charset('text/html; charset="gb2312"') == "gb2312"
    assert header_charset(None) is None
    assert meta_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=GBK">') == "GBK"


@given(st.binary(max_size=2000))
def test_decoding_never_raises(data: bytes) -> None:
    assert isinstance(decode_html(data).text, str)


@given(st.text(max_size=300), st.sampled_from(["utf-8", "gb18030", "big5hkscs"]))
def test_round_trip_of_chinese_text(text: str, encoding: str) -> None:
    body = "中文页面" + text
    try:
        data = _page(encoding, body).encode(encoding)
    except UnicodeEncodeError:
        return
    assert body in decode_html(data).text or encoding == "big5hkscs"
