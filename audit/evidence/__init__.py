"""The run bundle and its evidence: JSONL records, WARC, the seal, the writer lock."""
