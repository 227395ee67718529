"""Catalog-matching benchmark (`python -m bench.matching`)."""
