#!/usr/bin/env bash
# Installs what Clearance needs on a fresh Debian machine: ffmpeg and Chromaprint (Debian),
# Java 17 and Maven if missing, a virtualenv with the project and its Python dependencies.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v fpcalc >/dev/null || missing+=(libchromaprint-tools)
ldconfig -p | grep -q libchromaprint.so.1 || missing+=(libchromaprint1)
command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)  # speech for the voice and watermark tests
command -v chromium >/dev/null || missing+=(chromium)     # the reviewer-page test drives it headless
if [ "${1:-}" = "--bench" ]; then  # benchmarks and training render MIDI with a General MIDI soundfont
  command -v fluidsynth >/dev/null || missing+=(fluidsynth)
  [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
  [ -f /usr/share/sounds/sf2/TimGM6mb.sf2 ] || missing+=(timgm6mb-soundfont)  # covers: other timbres
  [ -f /usr/share/sounds/sf3/MuseScore_General.sf3 ] || missing+=(musescore-general-soundfont)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.clearance-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python dependencies (torch is large; first time only)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
# a development chain for signing Content Credentials (kept if one is there; see the README for production)
.venv/bin/clearance credentials dev-chain
