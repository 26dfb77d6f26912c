"""Judging: page classification, observation outcomes, rules, cross-target rules (pure)."""
