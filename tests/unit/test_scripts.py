"""The shell scripts' own logic, with a stand-in for the `clearance` command."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _running(tmp_path: Path, status_lines: list[str]) -> bool:
    fake = tmp_path / "clearance"
    body = "\n".join(f"echo {line!r}" for line in status_lines)
    fake.write_text(f"#!/usr/bin/env bash\n{body}\n")
    fake.chmod(0o755)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/services-running.sh")],
        env={"CLEARANCE_CMD": str(fake), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


def test_running_services_are_seen_as_running_even_with_a_long_status(tmp_path: Path) -> None:
    # With grep -q on a pipe, the long tail after the match made the status command die of
    # SIGPIPE and the script stop services the user had left running.
    lines = [
        "kafka: running (pid 1) at 127.0.0.1:9092, accepting requests",
        "elasticsearch: running (pid 2) at http://127.0.0.1:9200, cluster green",
        *(f"log line {n} " + "x" * 200 for n in range(2000)),
    ]
    assert _running(tmp_path, lines)


def test_stopped_or_unhealthy_services_are_seen_as_not_running(tmp_path: Path) -> None:
    assert not _running(tmp_path, ["kafka: stopped", "elasticsearch: running, cluster green"])
    assert not _running(
        tmp_path, ["kafka: running, accepting requests", "elasticsearch: running, cluster red"]
    )
