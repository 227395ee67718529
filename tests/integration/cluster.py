"""A real three-broker KRaft cluster and three-node Elasticsearch cluster for integration tests
(`clearance services up --kafka-brokers 3 --es-nodes 3`), on a free block of ports and in a
folder of its own, so the single-node services the other tests use are left alone; and the
means to hurt it: kill -9 a node, freeze one (SIGSTOP) and thaw it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli import services
from model.settings import PROJECT_ROOT, Settings

NODES = 3


@dataclass(frozen=True)
class Cluster:
    settings: Settings
    env: dict[str, str]  # CLEARANCE_* variables that point a process (a worker, the CLI) at it

    def pid(self, service: str) -> int:
        pid = services._read_pid(services.Layout.of(self.settings).pidfile(service))
        assert pid is not None, f"{service} is not running"
        return pid

    def kill(self, service: str) -> None:
        kill_node(self.settings, service)

    def signal_all(self, service: str, sig: signal.Signals) -> None:
        """Send `sig` to every node of a service ("kafka" or "elasticsearch")."""
        count = self.settings.kafka_brokers if service == "kafka" else self.settings.es_nodes
        for node in range(count):
            os.kill(self.pid(services.node_service(service, node)), sig)


def kill_node(settings: Settings, service: str) -> None:
    """kill -9 one node and wait until it is gone."""
    pid = services._read_pid(services.Layout.of(settings).pidfile(service))
    assert pid is not None, f"{service} is not running"
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: not services._alive(pid), 10)


def free_port_block() -> dict[str, int]:
    """Base ports whose whole plan (3 brokers, 3 nodes) is free on 127.0.0.1."""
    for _ in range(50):
        base = random.randrange(20_000, 60_000, 100)
        ports = {
            "kafka_port": base,
            "kafka_controller_port": base + 1,
            "es_port": base + 20,
            "es_transport_port": base + 40,
        }
        plan = services.port_plan(Settings(kafka_brokers=NODES, es_nodes=NODES, **ports))  # type: ignore[arg-type]
        if all(services.port_is_free(host, port) for host, port in plan):
            return ports
    pytest.skip("no free block of ports for a three-node cluster")


@contextmanager
def running_cluster(folder: Path, name: str) -> Iterator[Cluster]:
    """Start the cluster (topics and indices get `name` as their prefix), yield it, stop it."""
    run = f"{name}-{uuid.uuid4().hex[:8]}"
    values: dict[str, Any] = {
        **free_port_block(),
        "services_dir": folder / "services",
        "services_cache_dir": Settings().services_cache_dir or Settings().services_dir / "cache",
        "kafka_heap": "256m",
        "es_heap": "512m",
        "topic_prefix": f"{run}.",
        "index_prefix": f"{run}-",
    }
    env = {f"CLEARANCE_{key.upper()}": str(value) for key, value in values.items()}
    env |= {"CLEARANCE_KAFKA_BROKERS": str(NODES), "CLEARANCE_ES_NODES": str(NODES)}
    settings = Settings(kafka_brokers=NODES, es_nodes=NODES, **values)
    full_env = {**os.environ, **env}
    try:
        up = clearance(full_env, "services", "up", "--kafka-brokers", str(NODES), "--es-nodes", str(NODES))
        assert up.returncode == 0, up.stdout + up.stderr
        assert up.stdout.count("up (pid") == 2 * NODES, up.stdout
        yield Cluster(settings, env)
    finally:
        # a node left frozen by a failed test would never stop
        for pid in services._owned_processes(services.Layout.of(settings)):
            os.kill(pid, signal.SIGCONT)
        down = clearance(full_env, "services", "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert services._owned_processes(services.Layout.of(settings)) == []


def clearance(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def eventually(check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    """The first truthy result of `check` within the time, else the test fails."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
        except Exception:  # a node is still starting, or a leader is being elected
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {timeout_s:.0f} s: {check}")
        time.sleep(0.5)
