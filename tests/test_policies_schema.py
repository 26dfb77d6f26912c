"""The committed JSON Schemas of the policy files match the models."""

from __future__ import annotations

import json

from audit.policy.catalog import json_schemas, shipped_policies_dir


def test_committed_schemas_are_in_sync() -> None:
    directory = shipped_policies_dir() / "schema"
    for name, schema in json_schemas().items():
        committed = json.loads((directory / name).read_text(encoding="utf-8"))
        assert committed == json.loads(json.dumps(schema)), (
            f"{name} is stale: run `hulian policies schema`")
