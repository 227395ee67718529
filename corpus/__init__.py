"""Audio the project makes for itself (no downloads): rendered MIDI songs and synthesized speech,
with the seed ranges that keep training, benchmark and test material apart."""
