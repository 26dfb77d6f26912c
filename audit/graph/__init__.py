"""The reachability graph: building, metrics, paths, exports."""

# An edge's `evidence` (observation ids on a link edge, WARC record ids on a search edge) is
# one text of ids joined by this, as GraphML and GEXF write a list: the ids hulian makes are
# hex digests and urn:uuid: names, without spaces.
EVIDENCE_SEPARATOR = " "
