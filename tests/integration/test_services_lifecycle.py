"""`clearance services up` twice, then `down`: both real nodes come up once, and no Java
process is left. Runs its own pair on free ports and a separate state directory."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from model.settings import Settings
from tests.integration.cluster import clearance

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def java_processes_under(directory: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "java" in cmd and str(directory) in cmd:
                found.append(int(entry.name))
    return found


def test_up_twice_then_down_leaves_no_java_process(tmp_path: Path) -> None:
    state = tmp_path / "services"
    env = {
        **os.environ,
        "CLEARANCE_SERVICES_DIR": str(state),
        "CLEARANCE_SERVICES_CACHE_DIR": str(
            Settings().services_cache_dir or Settings().services_dir / "cache"
        ),
        "CLEARANCE_KAFKA_PORT": str(free_port()),
        "CLEARANCE_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CLEARANCE_ES_PORT": str(free_port()),
        "CLEARANCE_ES_TRANSPORT_PORT": str(free_port()),
        "CLEARANCE_ES_HEAP": "512m",
        "CLEARANCE_KAFKA_HEAP": "256m",
    }
    try:
        first = clearance(env, "services", "up")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "up (pid" in first.stdout
        pids = java_processes_under(state)
        assert len(pids) == 2

        second = clearance(env, "services", "up")
        assert second.returncode == 0 and "already running" in second.stdout
        assert sorted(java_processes_under(state)) == sorted(pids)

        status = clearance(env, "services", "status")
        assert "accepting requests" in status.stdout and "cluster green" in status.stdout
    finally:
        down = clearance(env, "services", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert java_processes_under(state) == []
    assert "stopped" in clearance(env, "services", "status").stdout
