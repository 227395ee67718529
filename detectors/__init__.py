"""Detectors: pure functions from decoded audio (and metadata) to typed findings. No Kafka here."""
