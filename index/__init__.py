"""The index layer: the only code that talks to Elasticsearch."""
