"""Captured flows are judged in the order their requests were made, not the order the files
hold them in (review 134): a shell glob's order of files, or a mitmproxy view saved newest
first, put the page a link led to before the notice in front of it, read as `direct`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from mitmproxy import io as mio
from mitmproxy.test import tflow

from audit.measure.capture.chains import ChainBuilder
from audit.measure.capture.run import CaptureSession
from audit.model import Observation
from audit.policy.catalog import load_catalog, policy_dirs
from tests.test_capture_truth import (
    LINK,
    OPEN,
    TARGET_PAGE,
    UNKNOWN_WARNING,
    WARNING_URL,
    _probe,
)

T = 1_700_000_000.0
NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate",
              "Accept": "text/html,application/xhtml+xml"}


def _entry(url: str, at: float, *, status: int = 200, body: bytes = b"",
           headers: dict[str, str] | None = None) -> dict[str, object]:
    when = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    fields = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
    return {"startedDateTime": when, "time": 10,
            "request": {"method": "GET", "url": url, "httpVersion": "HTTP/1.1",
                        "headers": [{"name": k, "value": v} for k, v in NAVIGATION.items()]},
            "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1",
                         "headers": [{"name": k, "value": v} for k, v in fields.items()],
                         "content": {"size": len(body), "mimeType": "text/html",
                                     "text": body.decode()}}}


def _har(path: Path, entries: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}},
                               ensure_ascii=False), encoding="utf-8")
    return path


def _session() -> CaptureSession:
    """A session without a bundle whose plan is test_capture_truth's probe (LINK's token)."""
    catalog = load_catalog(policy_dirs())
    return CaptureSession(catalog=catalog, builder=ChainBuilder(catalog, [_probe()]))


def _observed(paths: list[Path]) -> list[Observation]:
    """Observations of a session over `paths`, given in that order."""
    session = _session()
    observations: list[Observation] = []
    session.on_observation = observations.append
    results = session.read_all(paths)
    assert [r.error for r in results] == [None] * len(paths)
    session.close()
    return [o for o in observations if o.hops]


def _outcomes(observations: list[Observation]) -> list[tuple[str, list[str]]]:
    return [(o.outcome.value, [h.url for h in o.hops]) for o in observations]


def test_a_file_saved_newest_first_is_read_in_the_order_it_was_made(tmp_path: Path) -> None:
    # The warning, then the continue tap 6 s later; saved as a view showing newest first.
    warning = _entry(WARNING_URL, T, body=UNKNOWN_WARNING)
    arrival = _entry(LINK, T + 6, body=TARGET_PAGE, headers={"Referer": WARNING_URL})
    in_time = _observed([_har(tmp_path / "time.har", [warning, arrival])])
    newest_first = _observed([_har(tmp_path / "newest.har", [arrival, warning])])
    assert in_time and in_time[0].outcome.value not in OPEN
    assert _outcomes(newest_first) == _outcomes(in_time)  # before: `direct` on the target


def test_a_mitmproxy_dump_saved_newest_first_is_read_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "newest.mitm"
    with path.open("wb") as fh:
        writer = mio.FlowWriter(fh)  # type: ignore[no-untyped-call]
        for url, at, body in ((LINK, T + 6, TARGET_PAGE), (WARNING_URL, T, UNKNOWN_WARNING)):
            flow = tflow.tflow(resp=True)
            assert flow.response is not None
            flow.request.url = url
            flow.request.headers.update(NAVIGATION)
            flow.request.timestamp_start = at
            flow.response.headers["content-type"] = "text/html; charset=utf-8"
            flow.response.content = body
            writer.add(flow)
    (observed,) = _observed([path])
    assert observed.outcome.value not in OPEN
    assert observed.hops[0].url == WARNING_URL


def test_files_in_a_globs_order_are_merged_by_time(tmp_path: Path) -> None:
    # The phone shows the warning; two minutes later the link is opened on the desktop,
    # whose capture began earlier and goes on after: `desktop.har` comes first in a glob.
    phone = _har(tmp_path / "phone.har", [_entry(WARNING_URL, T, body=UNKNOWN_WARNING)])
    desktop = _har(tmp_path / "desktop.har", [
        _entry("https://news.example.com/", T - 300, body=b"<p>news</p>"),
        _entry(LINK, T + 120, body=TARGET_PAGE),
        _entry("https://news.example.com/b", T + 400, body=b"<p>more</p>")])
    phone_first = _observed([phone, desktop])
    glob_order = _observed([desktop, phone])
    assert phone_first and all(o.outcome.value not in OPEN for o in phone_first)
    assert _outcomes(glob_order) == _outcomes(phone_first)


def test_a_view_sorted_by_url_is_read_in_time_order(tmp_path: Path) -> None:
    # Review 137: keyed by a median of its neighbours' times, a view sorted by URL gave the
    # warning and the target unrelated neighbours' times, and the target came first: `direct`.
    news = b"<title>news</title><p>" + b"story " * 50 + b"</p>"
    made = [("https://wwz.news.example/1", T - 30), ("https://wiki.news.example/2", T - 20),
            (WARNING_URL, T), (LINK, T + 6), ("https://weibo.news.example/3", T + 40),
            ("https://a.news.example/4", T + 50)]
    bodies = {WARNING_URL: UNKNOWN_WARNING, LINK: TARGET_PAGE}
    in_time = [_entry(url, at, body=bodies.get(url, news),
                      headers={"Referer": WARNING_URL} if url == LINK else None)
               for url, at in made]
    entries = [in_time[made.index(pair)] for pair in sorted(made)]  # the view sorted by URL
    assert _outcomes(_observed([_har(tmp_path / "url.har", entries)])) == _outcomes(
        _observed([_har(tmp_path / "time.har", in_time)]))
    (observed,) = _observed([_har(tmp_path / "url2.har", entries)])
    assert observed.outcome.value not in OPEN


def test_bodies_wait_compressed(tmp_path: Path) -> None:
    # Review 137: 500 small gzip'd pages, each decoded to 2 MB, made a 1.05 GB temporary file
    # before the first flow was judged; the flows wait compressed.
    from audit.measure.capture.formats import FlowRecord
    from audit.measure.capture.run import _TimeOrder

    page = b"<p>" + b"a" * (2 * 1024 * 1024)
    with _TimeOrder(tmp_path) as order:
        for index in range(20):
            order.add(FlowRecord(file="f", index=index, offset=None, started=T + index,
                                 method="GET", url=f"https://e.com/{index}",
                                 response_body=page, status=200))
        order.end_file()
        assert order._spill.tell() < 2 * 1024 * 1024  # 40 MB of bodies
        assert [f.index for f in order.flows()] == list(range(20))


def test_a_damaged_file_among_others_keeps_what_it_gave(tmp_path: Path) -> None:
    # Damage ends its file with an error; its flows before the damage are ordered and judged
    # with the other files' (the whole input is read before the first flow is judged).
    good = _har(tmp_path / "good.har", [_entry(LINK, T + 6, body=TARGET_PAGE)])
    whole = json.dumps({"log": {"version": "1.2", "entries": [
        _entry(WARNING_URL, T, body=UNKNOWN_WARNING), _entry(WARNING_URL, T + 1)]}},
        ensure_ascii=False)
    damaged = tmp_path / "damaged.har"
    damaged.write_text(whole[:whole.rindex('{"startedDateTime"') + 30], encoding="utf-8")
    session = _session()
    observations: list[Observation] = []
    session.on_observation = observations.append
    results = session.read_all([good, damaged])
    session.close()
    assert results[0].error is None and results[1].error is not None
    assert results[1].flows == 1
    (observed,) = [o for o in observations if o.hops]
    assert observed.hops[0].url == WARNING_URL
    assert observed.outcome.value not in OPEN
