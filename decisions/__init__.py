"""Decisions: a pure function of a track's findings and the policy in force."""
