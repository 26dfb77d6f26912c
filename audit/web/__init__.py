"""Pages and URLs: decoding, parsing, URL handling (pure)."""
