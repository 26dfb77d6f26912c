"""Measuring: planning probes, the probe driver, the engines that do its I/O, captures."""
