"""Proxy captures: mitmproxy, HAR and WARC readers, the addon, chains, test plans, redaction."""
