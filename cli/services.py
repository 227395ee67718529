"""Fetches, starts, checks and stops the real Kafka (KRaft) and Elasticsearch nodes.

Both come from Maven Central through `mvn` (the poms live in scripts/services/), are cached
under the services directory, run bound to 127.0.0.1, and are tracked by pid files.
Elasticsearch refuses to run as root, so under root it is started as the user `nobody`.

Either may run as a cluster of several nodes (settings kafka_brokers, es_nodes): node 0 keeps the
single node's folder and ports, node i uses its own folder (`kafka-2`, `elasticsearch-2`, ...) and
ports derived from the settings (see `port_plan`).
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
from collections.abc import Callable, Iterator
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

    def shapefile(self, service: str) -> Path:
        return self.home(service) / "cluster.json"


# ---------------------------------------------------------------- cluster plan


@dataclass(frozen=True)
class KafkaNode:
    """One local broker, also a KRaft controller."""

    service: str
    node_id: int
    host: str
    port: int
    controller_port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def voter(self) -> str:
        return f"{self.node_id}@{self.host}:{self.controller_port}"


@dataclass(frozen=True)
class EsNode:
    service: str
    name: str
    host: str
    http_port: int
    transport_port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def transport_address(self) -> str:
        return f"{self.host}:{self.transport_port}"


@dataclass(frozen=True)
class Shape:
    """The cluster a node belongs to, recorded when it starts: its size and every node's address.
    `addresses` is None for a single node started before shapes were recorded."""

    nodes: int
    addresses: tuple[str, ...] | None


def node_service(kind: str, index: int) -> str:
    """`kafka`, `kafka-2`, `kafka-3`, ...: the first node keeps the name and folder of a single node."""
    return kind if index == 0 else f"{kind}-{index + 1}"


def kafka_nodes(settings: Settings) -> list[KafkaNode]:
    return [
        KafkaNode(
            node_service("kafka", i),
            i + 1,
            settings.kafka_host,
            settings.kafka_broker_port(i),
            settings.kafka_node_controller_port(i),
        )
        for i in range(settings.kafka_brokers)
    ]


def es_nodes(settings: Settings) -> list[EsNode]:
    return [
        EsNode(
            node_service("elasticsearch", i),
            f"clearance-es-{i + 1}",
            settings.es_host,
            settings.es_http_port(i),
            settings.es_node_transport_port(i),
        )
        for i in range(settings.es_nodes)
    ]


def port_plan(settings: Settings) -> dict[tuple[str, int], str]:
    """Every address the local nodes listen on and the setting it derives from (broker i:
    kafka_port + 2i and kafka_controller_port + 2i; Elasticsearch node i: es_port + i and
    es_transport_port + i). Raises ServiceError if two of them would share a port."""
    uses: list[tuple[str, int, str]] = []
    for i, kafka in enumerate(kafka_nodes(settings)):
        uses.append((kafka.host, kafka.port, _derived("CLEARANCE_KAFKA_PORT", 2 * i)))
        uses.append((kafka.host, kafka.controller_port, _derived("CLEARANCE_KAFKA_CONTROLLER_PORT", 2 * i)))
    for i, es in enumerate(es_nodes(settings)):
        uses.append((es.host, es.http_port, _derived("CLEARANCE_ES_PORT", i)))
        uses.append((es.host, es.transport_port, _derived("CLEARANCE_ES_TRANSPORT_PORT", i)))
    plan: dict[tuple[str, int], str] = {}
    for host, port, setting in uses:
        if (host, port) in plan:
            raise ServiceError(
                f"port {port} would serve both {plan[host, port]} and {setting}; "
                "set the ports further apart (brokers take every second port, nodes every port)"
            )
        plan[host, port] = setting
    return plan


def _derived(setting: str, offset: int) -> str:
    return setting if offset == 0 else f"{setting} + {offset}"


def _kafka_shape(nodes: list[KafkaNode]) -> Shape:
    return Shape(len(nodes), tuple(f"{n.voter}/{n.port}" for n in nodes))


def _es_shape(nodes: list[EsNode]) -> Shape:
    return Shape(len(nodes), tuple(f"{n.name}@{n.host}:{n.http_port}/{n.transport_port}" for n in nodes))


def _record_shape(layout: Layout, service: str, shape: Shape) -> None:
    layout.shapefile(service).write_text(
        json.dumps({"nodes": shape.nodes, "addresses": list(shape.addresses or ())})
    )


def _recorded_shape(layout: Layout, service: str, running: bool) -> Shape | None:
    """The shape a node last started with; None for a node that never ran here."""
    try:
        raw = json.loads(layout.shapefile(service).read_text())
        return Shape(int(raw["nodes"]), tuple(str(a) for a in raw["addresses"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Shape(1, None) if running or _has_data(layout, service) else None


def _has_data(layout: Layout, service: str) -> bool:
    if service.startswith("kafka"):
        return (layout.home(service) / "data" / "meta.properties").exists()
    data = layout.home(service) / "node" / "data"
    return data.is_dir() and any(data.iterdir())


def node_services(layout: Layout, kind: str) -> list[str]:
    """Every node of a kind that has a folder here, in node order (also ones not configured now)."""
    if not layout.root.is_dir():
        return []
    pattern = re.compile(rf"{re.escape(kind)}(?:-(\d+))?")
    found = [(m, d.name) for d in layout.root.iterdir() if d.is_dir() and (m := pattern.fullmatch(d.name))]
    return [name for m, name in sorted(found, key=lambda f: int(f[0].group(1) or 1))]


def _refuse_another_shape(
    layout: Layout, kind: str, label: str, setting: str, wanted: Shape, planned: list[str]
) -> None:
    """Nodes already running (or data already formed) for a cluster of another size cannot take
    part in this one: say so instead of starting nodes that would wait for each other forever."""
    strays = [s for s in node_services(layout, kind) if s not in planned and _read_pid(layout.pidfile(s))]
    if strays:
        raise ServiceError(
            f"{label} nodes beyond the {wanted.nodes} asked for ({setting}) are running "
            f"({', '.join(strays)}): run `clearance services down` first, then `up` again"
        )
    for service in planned:
        running = _read_pid(layout.pidfile(service)) is not None
        shape = _recorded_shape(layout, service, running)
        if shape is None:
            continue
        if running and not _same_cluster(shape, wanted):
            raise ServiceError(
                f"{label} runs here as a {shape.nodes}-node cluster (or on other ports), but "
                f"{wanted.nodes} node(s) were asked for ({setting}): run `clearance services down` "
                "first, then `clearance services up` again"
            )
        if not running and shape.nodes != wanted.nodes:
            folders = ", ".join(str(layout.home(s)) for s in node_services(layout, kind))
            raise ServiceError(
                f"the data in {layout.home(service)} belongs to a {shape.nodes}-node {label} cluster, "
                f"but {setting} asks for {wanted.nodes}: set it back to {shape.nodes}, or delete "
                f"{folders} (their data is lost) and run `up` again"
            )


def _same_cluster(recorded: Shape, wanted: Shape) -> bool:
    return recorded.nodes == wanted.nodes and recorded.addresses in (None, wanted.addresses)


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


def _wait(check: Callable[[], bool], started: dict[str, int], layout: Layout, timeout_s: float) -> None:
    """Wait for `check` while every started node (service name: pid) stays alive."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        for service, pid in started.items():
            if not _alive(pid):
                raise ServiceError(
                    f"{service} exited during start-up; see the end of {layout.logfile(service)}"
                )
        time.sleep(0.5)
    logs = ", ".join(str(layout.logfile(service)) for service in started)
    raise ServiceError(f"{', '.join(started)} did not become healthy within {timeout_s:.0f} s; see {logs}")


def _stop_all(pids: list[int]) -> None:
    """SIGTERM every process at once, then SIGKILL what is left. At once, because a KRaft broker
    shuts down cleanly only while a majority of the controllers still runs."""
    for sig, timeout_s in ((signal.SIGTERM, _STOP_TIMEOUT_S), (signal.SIGKILL, 10.0)):
        alive = [pid for pid in pids if _alive(pid)]
        for pid in alive:
            _signal(pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(_alive(pid) for pid in alive):
            time.sleep(0.2)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)


# ---------------------------------------------------------------- Kafka


def kafka_live_brokers(bootstrap: str) -> int | None:
    """How many brokers the cluster reached through `bootstrap` reports alive; None when it does
    not answer a metadata request."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    except (KafkaError, OSError):
        return None
    try:
        return len(admin.describe_cluster().get("brokers", []))
    except (KafkaError, OSError):
        return None
    finally:
        admin.close()


def _kafka_properties(settings: Settings, data: Path, index: int = 0) -> str:
    """server.properties of local broker `index`: every broker is also a controller, and the
    internal topics get as many copies as the cluster can hold, up to 3."""
    nodes = kafka_nodes(settings)
    node = nodes[index]
    copies = min(3, len(nodes))
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={','.join(n.voter for n in nodes)}",
            f"listeners=PLAINTEXT://{node.address},CONTROLLER://{node.host}:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://{node.address}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data}",
            f"num.partitions={settings.topic_partitions}",
            f"offsets.topic.replication.factor={copies}",
            f"transaction.state.log.replication.factor={copies}",
            f"transaction.state.log.min.isr={min(2, len(nodes))}",
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


def start_kafka(settings: Settings, layout: Layout) -> list[str]:
    """Start every configured broker that is not running, then wait until each sees them all."""
    nodes = kafka_nodes(settings)
    _refuse_another_shape(
        layout, "kafka", "Kafka", "CLEARANCE_KAFKA_BROKERS", _kafka_shape(nodes), [n.service for n in nodes]
    )
    running = {n.service for n in nodes if _read_pid(layout.pidfile(n.service)) is not None}
    said = [f"Kafka already running on {n.address}" for n in nodes if n.service in running]
    missing = [(i, n) for i, n in enumerate(nodes) if n.service not in running]
    if not missing:
        return said
    for i, node in missing:
        _require_free(node.host, node.port, _derived("CLEARANCE_KAFKA_PORT", 2 * i), "Kafka")
        port_setting = _derived("CLEARANCE_KAFKA_CONTROLLER_PORT", 2 * i)
        _require_free(node.host, node.controller_port, port_setting, "Kafka")
    classpath = os.pathsep.join(fetch(layout, "kafka"))
    cluster_id = _shared_cluster_id(layout, nodes)
    started = {n.service: _start_kafka_node(settings, layout, i, classpath, cluster_id) for i, n in missing}
    _wait(
        lambda: all(kafka_live_brokers(n.address) == len(nodes) for _, n in missing),
        started,
        layout,
        settings.service_start_timeout_s,
    )
    return said + [f"Kafka {n.address} up (pid {started[n.service]})" for _, n in missing]


def _start_kafka_node(settings: Settings, layout: Layout, index: int, classpath: str, cluster_id: str) -> int:
    nodes = kafka_nodes(settings)
    service = nodes[index].service
    home = layout.home(service)
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    (home / "server.properties").write_text(_kafka_properties(settings, data, index))
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
    _record_shape(layout, service, _kafka_shape(nodes))
    return _start([*java, KAFKA_MAIN_CLASS, str(home / "server.properties")], layout, service, home)


def _shared_cluster_id(layout: Layout, nodes: list[KafkaNode]) -> str:
    """The cluster id every broker's storage is formatted with: the one already on disk, if any."""
    found = {
        n.service: cluster_id
        for n in nodes
        if (cluster_id := _formatted_cluster_id(layout.home(n.service) / "data")) is not None
    }
    if len(set(found.values())) > 1:
        raise ServiceError(
            f"the Kafka data folders belong to different clusters ({', '.join(sorted(found))}); "
            "run `clearance services down` and delete the folders of the brokers that should start empty"
        )
    return next(iter(found.values()), None) or new_kafka_cluster_id()


def _formatted_cluster_id(data: Path) -> str | None:
    try:
        meta = (data / "meta.properties").read_text()
    except OSError:
        return None
    match = re.search(r"^cluster\.id=(\S+)$", meta, re.MULTILINE)
    return match.group(1) if match else None


# ---------------------------------------------------------------- Elasticsearch


@dataclass(frozen=True)
class EsHealth:
    status: str
    nodes: int


def es_health(url: str) -> EsHealth | None:
    """The cluster's health as the node at `url` sees it; None when it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=3) as response:
            body = json.load(response)
        return EsHealth(str(body.get("status")), int(body.get("number_of_nodes", 0)))
    except (OSError, ValueError):
        return None


def _es_ready(url: str, nodes: int) -> bool:
    health = es_health(url)
    return health is not None and health.status in ("green", "yellow") and health.nodes == nodes


def start_elasticsearch(settings: Settings, layout: Layout) -> list[str]:
    """Start every configured node that is not running, then wait until each sees them all."""
    nodes = es_nodes(settings)
    _refuse_another_shape(
        layout,
        "elasticsearch",
        "Elasticsearch",
        "CLEARANCE_ES_NODES",
        _es_shape(nodes),
        [n.service for n in nodes],
    )
    running = {n.service for n in nodes if _read_pid(layout.pidfile(n.service)) is not None}
    said = [f"Elasticsearch already running on {n.url}" for n in nodes if n.service in running]
    missing = [(i, n) for i, n in enumerate(nodes) if n.service not in running]
    if not missing:
        return said
    for i, node in missing:
        _require_free(node.host, node.http_port, _derived("CLEARANCE_ES_PORT", i), "Elasticsearch")
        port_setting = _derived("CLEARANCE_ES_TRANSPORT_PORT", i)
        _require_free(node.host, node.transport_port, port_setting, "Elasticsearch")
    classpath = fetch(layout, "elasticsearch")
    launcher = _es_launcher(layout, classpath)
    if os.geteuid() == 0:  # Elasticsearch will not run as root
        for path in (launcher, *(Path(p) for p in classpath)):
            _make_world_readable(path)
    # the masters that may elect the first master are named only when the cluster is new
    new_cluster = not any(_has_data(layout, n.service) for n in nodes)
    started = {
        n.service: _start_es_node(settings, layout, i, [str(launcher), *classpath], new_cluster)
        for i, n in missing
    }
    _wait(
        lambda: all(_es_ready(n.url, len(nodes)) for _, n in missing),
        started,
        layout,
        settings.service_start_timeout_s,
    )
    return said + [f"Elasticsearch {n.url} up (pid {started[n.service]})" for _, n in missing]


def _start_es_node(
    settings: Settings, layout: Layout, index: int, classpath: list[str], new_cluster: bool
) -> int:
    nodes = es_nodes(settings)
    service = nodes[index].service
    node_home = layout.home(service) / "node"
    (node_home / "tmp").mkdir(parents=True, exist_ok=True)
    cmd = [
        "java",
        f"-Xms{settings.es_heap}",
        f"-Xmx{settings.es_heap}",
        f"-Djava.io.tmpdir={node_home / 'tmp'}",
        "-cp",
        os.pathsep.join(classpath),
        ES_MAIN_CLASS,
        *es_node_arguments(nodes, index, node_home, new_cluster),
    ]
    if os.geteuid() == 0:  # Elasticsearch will not run as root
        _chown_tree(node_home, "nobody")
        _let_others_traverse_to(node_home)
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
    _record_shape(layout, service, _es_shape(nodes))
    return _start(cmd, layout, service, node_home)


def es_node_arguments(nodes: list[EsNode], index: int, node_home: Path, new_cluster: bool) -> list[str]:
    """The launcher's arguments (ClasspathNode.java): a lone node is a cluster of its own, as it
    always was; a node of several finds the others through every transport address."""
    node = nodes[index]
    arguments = [str(node_home), str(node.http_port), str(node.transport_port)]
    if len(nodes) == 1:
        return arguments
    arguments += [node.name, ",".join(n.transport_address for n in nodes)]
    if new_cluster:
        arguments.append(",".join(n.name for n in nodes))
    return arguments


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
    port_plan(settings)
    layout = Layout.of(settings)
    for line in start_kafka(settings, layout):
        say(line)
    for line in start_elasticsearch(settings, layout):
        say(line)


def down(settings: Settings, say: Callable[[str], None]) -> None:
    """Stop every node found here, whatever the settings say now, and any leftover process."""
    layout = Layout.of(settings)
    found = [service for kind in SERVICES for service in node_services(layout, kind)]
    running = {service: pid for service in found if (pid := _read_pid(layout.pidfile(service))) is not None}
    _stop_all(list(running.values()))
    for service, pid in running.items():
        say(f"{service} stopped (pid {pid})")
    for service in found:
        layout.pidfile(service).unlink(missing_ok=True)
    leftovers = _owned_processes(layout)  # their pid file was lost
    _stop_all(leftovers)
    for pid in leftovers:
        say(f"stopped leftover process {pid}")


def status(settings: Settings) -> list[ServiceStatus]:
    layout = Layout.of(settings)
    return [*_kafka_status(settings, layout), *_es_status(settings, layout)]


def _kafka_status(settings: Settings, layout: Layout) -> Iterator[ServiceStatus]:
    nodes = kafka_nodes(settings)
    for node in nodes:
        pid = _read_pid(layout.pidfile(node.service))
        live = kafka_live_brokers(node.address) if pid is not None else None
        if live is not None:
            health = "accepting requests" + (
                f", {live} of {len(nodes)} brokers live" if len(nodes) > 1 else ""
            )
        else:
            health = "starting or unhealthy" if pid else "stopped"
        yield ServiceStatus(
            node.service, pid is not None, pid, node.address, health, layout.logfile(node.service)
        )
    yield from _unconfigured(layout, "kafka", [n.service for n in nodes], "CLEARANCE_KAFKA_BROKERS")


def _es_status(settings: Settings, layout: Layout) -> Iterator[ServiceStatus]:
    nodes = es_nodes(settings)
    for node in nodes:
        pid = _read_pid(layout.pidfile(node.service))
        seen = es_health(node.url) if pid is not None else None
        if seen is not None:
            health = f"cluster {seen.status}" + (
                f", {seen.nodes} of {len(nodes)} nodes" if len(nodes) > 1 else ""
            )
        else:
            health = "starting or unhealthy" if pid else "stopped"
        yield ServiceStatus(
            node.service, pid is not None, pid, node.url, health, layout.logfile(node.service)
        )
    yield from _unconfigured(layout, "elasticsearch", [n.service for n in nodes], "CLEARANCE_ES_NODES")


def _unconfigured(layout: Layout, kind: str, planned: list[str], setting: str) -> Iterator[ServiceStatus]:
    """Running nodes beyond the configured count (left from a larger cluster)."""
    for service in node_services(layout, kind):
        pid = _read_pid(layout.pidfile(service))
        if service not in planned and pid is not None:
            yield ServiceStatus(
                service,
                True,
                pid,
                "not configured",
                f"beyond {setting}={len(planned)}; `clearance services down` stops it",
                layout.logfile(service),
            )
