"""The `clearance` command."""
