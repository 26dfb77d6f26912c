"""Every domain type survives a JSON round trip unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from audit.model import (
    Hop,
    Observation,
    Outcome,
    PageFacts,
    PageKind,
    Probe,
    RunManifest,
    Status,
    SurfaceKind,
    Text,
    Verdict,
)
from audit.policy.catalog import load_catalog

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
RECORDS: list[BaseModel] = [
    Probe(id="p", source="weixin", surface=SurfaceKind.IM_GROUP,
          target_url="https://item.taobao.com/1", target_platform="taobao", category="COMM"),
    Hop(url="https://a.example/", status=302, location="https://b.example/", via="http",
        elapsed_ms=1.5, body_sha256="0" * 64, warc_record_id="urn:uuid:1"),
    Observation(id="o", probe_id="p", source="weixin", surface=SurfaceKind.IM_GROUP,
                target_url="https://item.taobao.com/1", outcome=Outcome.COPY_ONLY,
                started_at=NOW, hops=[Hop(url="https://x.example/")],
                page=PageFacts(kind=PageKind.COPY_ONLY, target="https://item.taobao.com/1")),
    Verdict(id="v", rule_id="no-copy-to-browser", source="weixin", status=Status.FAIL,
            severity="critical", reason=Text(zh="不合规", en="fails")),
    RunManifest(run_id="r", tool_version="0.1.0", policy_digest="d", started_at=NOW,
                files={"observations.jsonl": "0" * 64}),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_records_round_trip(record: BaseModel) -> None:
    assert type(record).model_validate_json(record.model_dump_json()) == record


def test_policy_models_round_trip() -> None:
    catalog = load_catalog()
    for table in (catalog.platforms, catalog.rules, catalog.frameworks, catalog.companies):
        for entry in table.values():
            dumped = entry.model_dump_json(by_alias=True)
            assert type(entry).model_validate_json(dumped) == entry
