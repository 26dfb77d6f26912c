"""The static site (`hulian site build` / `hulian site serve`): every stored run published as
pages in Chinese and English, their tables as JSON/CSV, an Atom feed of regressions and an
offline search index (docs/site.md)."""
