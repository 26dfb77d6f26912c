"""The reachability graph: building, metrics, paths, exports."""
