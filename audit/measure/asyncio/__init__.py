"""The asyncio engine: hulian's own HTTP client, page-parsing workers, the evidence recorder."""
