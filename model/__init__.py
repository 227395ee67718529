"""The shared vocabulary: events, findings, reason codes, sources, names, settings.
Imports nothing from the project."""
