"""Fetches, starts, checks and stops the real Kafka (KRaft) and Elasticsearch nodes.

Both come from Maven Central through `mvn` (the poms live in scripts/services/), are cached
under the services directory, run bound to 127.0.0.1, and are tracked by pid files.
Elasticsearch refuses to run as root, so under root it is started as the user `nobody`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from model.settings import PROJECT_ROOT, Settings

POMS = PROJECT_ROOT / "scripts" / "services"
ES_LAUNCHER_SOURCE = POMS / "elasticsearch" / "org" / "elasticsearch" / "node" / "ClasspathNode.java"
ES_MAIN_CLASS = "org.elasticsearch.node.ClasspathNode"
KAFKA_MAIN_CLASS = "kafka.Kafka"
_STOP_TIMEOUT_S = 45.0


class ServiceError(Exception):
    """Something the user must fix; the message is one line saying what to do."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    health: str
    log: Path


@dataclass(frozen=True)
class Layout:
    root: Path
    cache: Path

    @classmethod
    def of(cls, settings: Settings) -> Layout:
        return cls(settings.services_dir, settings.services_cache_dir or settings.services_dir / "cache")

    @property
    def maven_repo(self) -> Path:
        return self.cache / "m2"

    def classpath_file(self, service: str) -> Path:
        return self.cache / f"{service}.classpath"

    @property
    def es_launcher_classes(self) -> Path:
        return self.cache / "es-launcher"

    def home(self, service: str) -> Path:
        return self.root / service

    def pidfile(self, service: str) -> Path:
        return self.home(service) / f"{service}.pid"

    def logfile(self, service: str) -> Path:
        return self.home(service) / f"{service}.log"


# ---------------------------------------------------------------- checks


def require_tools() -> None:
    for tool, package in (("java", "openjdk-17-jdk-headless"), ("mvn", "maven")):
        if shutil.which(tool) is None:
            raise ServiceError(
                f"{tool} is not installed; install Java 17 and Maven (apt-get install {package})"
            )
    version = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', version)
    if match is None or int(match.group(1)) < 17:
        raise ServiceError(
            f"Java 17 or newer is needed, found: {version.splitlines()[0] if version else 'unknown'}"
        )


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _require_free(host: str, port: int, setting: str, service: str) -> None:
    if not port_is_free(host, port):
        raise ServiceError(
            f"port {port} on {host} is taken by another program, so {service} cannot start; "
            f"stop that program or set {setting} to a free port"
        )


# ---------------------------------------------------------------- fetching


def fetch(layout: Layout, service: str) -> list[str]:
    """Resolve a service's jars with mvn (cached); returns the classpath entries."""
    target = layout.classpath_file(service)
    if not target.exists():
        layout.cache.mkdir(parents=True, exist_ok=True)
        cmd = [
            "mvn",
            "-B",
            "-q",
            f"-Dmaven.repo.local={layout.maven_repo}",
            "-f",
            str(POMS / service / "pom.xml"),
            "dependency:build-classpath",
            f"-Dmdep.outputFile={target}.tmp",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = " ".join((proc.stdout + proc.stderr).split()[-30:])
            raise ServiceError(f"mvn could not fetch {service} from Maven Central (network?): {tail}")
        os.replace(f"{target}.tmp", target)
    entries = target.read_text().strip().split(os.pathsep)
    if not all(Path(e).is_file() for e in entries):
        target.unlink()  # the Maven cache was cleaned; resolve again
        return fetch(layout, service)
    return entries


def _es_launcher(layout: Layout, classpath: list[str]) -> Path:
    classes = layout.es_launcher_classes
    compiled = classes / "org" / "elasticsearch" / "node" / "ClasspathNode.class"
    if not compiled.exists() or compiled.stat().st_mtime < ES_LAUNCHER_SOURCE.stat().st_mtime:
        classes.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["javac", "-d", str(classes), "-cp", os.pathsep.join(classpath), str(ES_LAUNCHER_SOURCE)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ServiceError(
                f"javac could not build the Elasticsearch launcher: {proc.stderr.strip()[-300:]}"
            )
    return classes


# ---------------------------------------------------------------- processes


def _read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _owned_processes(layout: Layout) -> list[int]:
    """Java processes started from this services directory (found even without a pid file)."""
    marker = str(layout.root)
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            cmd = _cmdline(int(entry.name))
            if "java" in cmd and marker in cmd and (KAFKA_MAIN_CLASS in cmd or ES_MAIN_CLASS in cmd):
                pids.append(int(entry.name))
    return pids


def _start(cmd: list[str], layout: Layout, service: str, cwd: Path) -> int:
    log = layout.logfile(service).open("ab")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True
    )
    layout.pidfile(service).write_text(str(proc.pid))
    return proc.pid


def _wait(check: Callable[[], bool], pid: int, layout: Layout, service: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if not _alive(pid):
            raise ServiceError(f"{service} exited during start-up; see the end of {layout.logfile(service)}")
        time.sleep(0.5)
    raise ServiceError(
        f"{service} did not become healthy within {timeout_s:.0f} s; see {layout.logfile(service)}"
    )


def _stop(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + (_STOP_TIMEOUT_S if sig == signal.SIGTERM else 10)
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.2)


# ---------------------------------------------------------------- Kafka


def kafka_accepts_metadata(settings: Settings) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=3000)
    except (KafkaError, OSError):
        return False
    try:
        admin.describe_cluster()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _kafka_properties(settings: Settings, data: Path) -> str:
    host = settings.kafka_host
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{settings.kafka_controller_port}",
            f"listeners=PLAINTEXT://{host}:{settings.kafka_port},CONTROLLER://{host}:{settings.kafka_controller_port}",
            f"advertised.listeners=PLAINTEXT://{host}:{settings.kafka_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data}",
            f"num.partitions={settings.topic_partitions}",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "",
        ]
    )


_KAFKA_LOG4J = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka=WARN
"""


def new_kafka_cluster_id() -> str:
    """A random KRaft cluster id: 16 bytes in URL-safe base64, as Kafka's own `Uuid` makes them.

    Like Kafka, never one starting with "-": the storage tool would read it as an option
    (1 random id in 64 would fail to format).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def start_kafka(settings: Settings, layout: Layout) -> str:
    home = layout.home("kafka")
    if _read_pid(layout.pidfile("kafka")) is not None:
        return f"Kafka already running on {settings.kafka_bootstrap}"
    _require_free(settings.kafka_host, settings.kafka_port, "CLEARANCE_KAFKA_PORT", "Kafka")
    _require_free(
        settings.kafka_host, settings.kafka_controller_port, "CLEARANCE_KAFKA_CONTROLLER_PORT", "Kafka"
    )
    classpath = os.pathsep.join(fetch(layout, "kafka"))
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    (home / "server.properties").write_text(_kafka_properties(settings, data))
    (home / "log4j.properties").write_text(_KAFKA_LOG4J)
    java = [
        "java",
        f"-Xms{settings.kafka_heap}",
        f"-Xmx{settings.kafka_heap}",
        f"-Dlog4j.configuration=file:{home / 'log4j.properties'}",
        "-cp",
        classpath,
    ]
    if not (data / "meta.properties").exists():
        cluster_id = new_kafka_cluster_id()
        proc = subprocess.run(
            [
                *java,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(home / "server.properties"),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            output = f"{proc.stdout.strip()}\n{proc.stderr.strip()}".strip()
            raise ServiceError(f"Kafka could not format its storage: {output[-500:]}")
    pid = _start([*java, KAFKA_MAIN_CLASS, str(home / "server.properties")], layout, "kafka", home)
    _wait(lambda: kafka_accepts_metadata(settings), pid, layout, "kafka", settings.service_start_timeout_s)
    return f"Kafka {settings.kafka_bootstrap} up (pid {pid})"


# ---------------------------------------------------------------- Elasticsearch


def es_health(settings: Settings) -> str | None:
    try:
        with urllib.request.urlopen(f"{settings.es_url}/_cluster/health", timeout=3) as response:
            return str(json.load(response).get("status"))
    except (OSError, ValueError):
        return None


def start_elasticsearch(settings: Settings, layout: Layout) -> str:
    home = layout.home("elasticsearch")
    if _read_pid(layout.pidfile("elasticsearch")) is not None:
        return f"Elasticsearch already running on {settings.es_url}"
    _require_free(settings.es_host, settings.es_port, "CLEARANCE_ES_PORT", "Elasticsearch")
    _require_free(
        settings.es_host, settings.es_transport_port, "CLEARANCE_ES_TRANSPORT_PORT", "Elasticsearch"
    )
    classpath = fetch(layout, "elasticsearch")
    launcher = _es_launcher(layout, classpath)
    node_home = home / "node"
    (node_home / "tmp").mkdir(parents=True, exist_ok=True)
    cmd = [
        "java",
        f"-Xms{settings.es_heap}",
        f"-Xmx{settings.es_heap}",
        f"-Djava.io.tmpdir={node_home / 'tmp'}",
        "-cp",
        os.pathsep.join([str(launcher), *classpath]),
        ES_MAIN_CLASS,
        str(node_home),
        str(settings.es_port),
        str(settings.es_transport_port),
    ]
    if os.geteuid() == 0:  # Elasticsearch will not run as root
        _chown_tree(node_home, "nobody")
        _let_others_traverse_to(node_home)
        for path in (launcher, *(Path(p) for p in classpath)):
            _make_world_readable(path)
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
    pid = _start(cmd, layout, "elasticsearch", node_home)
    _wait(
        lambda: es_health(settings) in ("green", "yellow"),
        pid,
        layout,
        "elasticsearch",
        settings.service_start_timeout_s,
    )
    return f"Elasticsearch {settings.es_url} up (pid {pid})"


def _chown_tree(root: Path, user: str) -> None:
    shutil.chown(root, user)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            shutil.chown(Path(dirpath) / name, user)


def _make_world_readable(path: Path) -> None:
    paths = [path] if path.is_file() else [Path(d) / f for d, _, fs in os.walk(path) for f in fs] + [path]
    for p in paths:
        mode = p.stat().st_mode
        wanted = mode | 0o444 | (0o111 if p.is_dir() else 0)
        if wanted != mode:
            p.chmod(wanted)
    _let_others_traverse_to(path)


def _let_others_traverse_to(path: Path) -> None:
    """Add the search bit (not read) to private parent directories, e.g. a `mktemp -d` checkout,
    so the unprivileged Elasticsearch user can reach its files."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


# ---------------------------------------------------------------- commands


SERVICES = ("kafka", "elasticsearch")


def up(settings: Settings, say: Callable[[str], None]) -> None:
    require_tools()
    layout = Layout.of(settings)
    say(start_kafka(settings, layout))
    say(start_elasticsearch(settings, layout))


def down(settings: Settings, say: Callable[[str], None]) -> None:
    layout = Layout.of(settings)
    for service in SERVICES:
        pid = _read_pid(layout.pidfile(service))
        if pid is not None:
            _stop(pid)
            say(f"{service} stopped (pid {pid})")
        layout.pidfile(service).unlink(missing_ok=True)
    for pid in _owned_processes(layout):  # leftovers whose pid file was lost
        _stop(pid)
        say(f"stopped leftover process {pid}")


def status(settings: Settings) -> list[ServiceStatus]:
    layout = Layout.of(settings)
    kafka_pid = _read_pid(layout.pidfile("kafka"))
    es_pid = _read_pid(layout.pidfile("elasticsearch"))
    kafka_ok = kafka_pid is not None and kafka_accepts_metadata(settings)
    es_state = es_health(settings) if es_pid is not None else None
    return [
        ServiceStatus(
            "kafka",
            kafka_pid is not None,
            kafka_pid,
            settings.kafka_bootstrap,
            "accepting requests" if kafka_ok else ("starting or unhealthy" if kafka_pid else "stopped"),
            layout.logfile("kafka"),
        ),
        ServiceStatus(
            "elasticsearch",
            es_pid is not None,
            es_pid,
            settings.es_url,
            f"cluster {es_state}" if es_state else ("starting or unhealthy" if es_pid else "stopped"),
            layout.logfile("elasticsearch"),
        ),
    ]
