"""Every setting Clearance reads, in one place.

Each field is read from the environment variable ``CLEARANCE_<FIELD NAME IN CAPITALS>``
(for example ``CLEARANCE_KAFKA_PORT``); the README lists them all.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARANCE_", frozen=True)

    # Kafka (KRaft, bound to 127.0.0.1; broker i of `services up` listens on kafka_port + 2i and
    # kafka_controller_port + 2i, so the default pairs are 9092/9093, 9094/9095, ...)
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = Field("512m", description="JVM heap of each broker")
    kafka_brokers: int = Field(1, ge=1, description="brokers `services up` runs (each also a controller)")
    kafka_bootstrap_servers: str | None = Field(
        None, description="'host:port,host:port' of a cluster; default: the local brokers"
    )
    topic_prefix: str = Field("clearance.", description="prefix of every topic the project creates")
    topic_partitions: int = Field(
        12, ge=1, description="partitions per topic: the most workers that can share the work"
    )
    topic_replication_factor: int = Field(1, ge=1, description="default min(3, kafka_brokers)")
    min_insync_replicas: int = Field(1, ge=1, description="default 2 when the replication factor is 3+")

    # Elasticsearch (bound to 127.0.0.1; node i of `services up` uses es_port + i and
    # es_transport_port + i)
    es_host: str = "127.0.0.1"
    es_port: int = 9200
    es_transport_port: int = 9300
    es_heap: str = Field("1g", description="JVM heap of each node")
    es_nodes: int = Field(1, ge=1, description="nodes `services up` runs")
    es_hosts: str | None = Field(
        None, description="'http://host:port,http://host:port' of a cluster; default: the local nodes"
    )
    index_prefix: str = Field("clearance-", description="prefix of every index and template")
    es_replicas: int = Field(0, ge=0, description="replicas per shard; default 1 on 2+ nodes, else 0")

    # Where the fetched services, their data and logs live (git-ignored)
    services_dir: Path = PROJECT_ROOT / ".services"
    services_cache_dir: Path | None = Field(None, description="fetched jars; default <services_dir>/cache")
    service_start_timeout_s: float = 180.0

    # Content-addressed audio store used by `clearance submit`
    store_dir: Path = PROJECT_ROOT / ".clearance" / "store"
    ingest_roots: Annotated[tuple[Path, ...], NoDecode] = Field(
        (),
        description="folders whose audio `POST /v1/tracks/by-uri` may submit (none: by-uri is off); "
        "separated by ':' as in PATH, or a JSON list",
    )

    # Analysis
    analysis_sample_rate: int = Field(22050, description="mono PCM rate the detectors receive")
    max_audio_seconds: float = Field(1800.0, description="longer audio is rejected to the dead-letter topic")
    min_audio_seconds: float = Field(1.0, description="shorter audio is rejected to the dead-letter topic")

    # Watermark (AudioSeal). A model card name such as audioseal_detector_16bits works too, where
    # the official checkpoints can be fetched.
    watermark_detector: str = Field(
        str(PROJECT_ROOT / "detectors/watermark/weights/clearance_detector_16bits.pth"),
        description="detector checkpoint (path or audioseal model card)",
    )
    watermark_generator: str = Field(
        str(PROJECT_ROOT / "detectors/watermark/weights/clearance_wm_16bits.pth"),
        description="generator checkpoint used by `clearance watermark embed`",
    )
    watermark_threshold: float = Field(
        0.70, ge=0, le=1, description="track score at which a watermark is reported (calibrated: README)"
    )

    # Opt-out by voice
    voice_bfloat16: bool = Field(
        True,
        description="embed uploads' voice segments in bfloat16 where the CPU has it natively "
        "(half the time; similarities within 0.004 of float32's)",
    )

    # Content Credentials (C2PA). Setup makes a development chain in c2pa_dir; production sets
    # the signer's chain and key (from a CA on the C2PA trust list) and the trust anchors.
    c2pa_dir: Path = PROJECT_ROOT / ".clearance" / "c2pa"
    c2pa_signer_chain: Path | None = Field(
        None, description="PEM, leaf first; default <c2pa_dir>/signer-chain.pem"
    )
    c2pa_signer_key: Path | None = Field(None, description="PEM private key; default <c2pa_dir>/signer.key")
    c2pa_trust_anchors: Path | None = Field(
        None, description="PEM roots a manifest's signer must chain to; default <c2pa_dir>/trust-anchors.pem"
    )
    generation_keep_prompts: bool = Field(
        False, description="keep generation prompts in generation records (else only their sha256)"
    )

    # Policies and the people registry (opt-outs, voiceprints) are re-read this often
    registry_cache_seconds: float = Field(30.0, gt=0, description="how stale policies/opt-outs may be")

    # Review API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_max_upload_mb: int = Field(200, ge=1, description="larger uploads get 413")
    api_max_json_kb: int = Field(512, ge=1, description="larger request bodies (JSON) get 413")
    api_rate_per_minute: int = Field(600, ge=1, description="requests per minute per API key (then 429)")
    api_rate_burst: int = Field(120, ge=1, description="requests a key may make at once")
    api_registration_workers: int = Field(1, ge=1, description="registrations fingerprinted at once")
    api_registration_queue: int = Field(16, ge=1, description="registrations queued or running; then 503")

    # Workers
    app_id: str = "clearance"
    index_batch_size: int = Field(200, ge=1)
    index_batch_seconds: float = Field(0.5, gt=0)
    analysis_processes: int = Field(
        default_factory=lambda: (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        ),
        ge=0,
        description="processes running the detectors, one core each (default: every core the worker "
        "may use); "
        "0 runs them in the worker's own threads",
    )
    analysis_pin_cores: bool = Field(
        True, description="keep each analysis process on a core of its own (of those the worker may use)"
    )
    analysis_in_flight: int = Field(
        0, ge=0, description="tracks analysed at once by one worker; 0: one per analysis process"
    )
    analysis_timeout_s: float = Field(600.0, gt=0, description="a track analysed longer is dead-lettered")
    stream_buffer_size: int = Field(
        256, ge=1, description="events a worker reads ahead per stream; then it pauses fetching"
    )
    metrics_host: str = Field("127.0.0.1", description="address the worker's /metrics listens on")
    metrics_interval_s: float = Field(5.0, gt=0, description="how often consumer lag is measured")
    metrics_port: int = Field(9464, ge=0, le=65535, description="the worker's /metrics port; 0: none")

    # Retroactive claims (backfills) and replays
    backfill_min_shared_terms: int = Field(
        16,
        ge=1,
        description="Chromaprint terms an upload must share with one 15 s window of a newly "
        "registered master to be analysed again",
    )
    backfill_page_size: int = Field(
        500, ge=1, description="tracks a backfill or replay sends between progress updates"
    )

    # Logs
    log_level: str = "INFO"
    log_format: str = Field("console", pattern="^(console|json)$")

    @model_validator(mode="before")
    @classmethod
    def _cluster_defaults(cls, data: Any) -> Any:
        """Replication follows the size of the local cluster unless set: RF min(3, brokers),
        min ISR 2 once there are 3 copies, one Elasticsearch replica on 2+ nodes."""
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        brokers, es_nodes = _count(data.get("kafka_brokers")), _count(data.get("es_nodes"))
        if filled.get("topic_replication_factor") is None and brokers is not None:
            filled["topic_replication_factor"] = min(3, brokers)
        factor = _count(filled.get("topic_replication_factor"))
        if filled.get("min_insync_replicas") is None and factor is not None:
            filled["min_insync_replicas"] = 2 if factor >= 3 else 1
        if filled.get("es_replicas") is None and es_nodes is not None:
            filled["es_replicas"] = 1 if es_nodes > 1 else 0
        return filled

    @model_validator(mode="after")
    def _writable_with_acks_all(self) -> Settings:
        if self.min_insync_replicas > self.topic_replication_factor:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) exceeds topic_replication_factor "
                f"({self.topic_replication_factor}): no write with acks=all could succeed"
            )
        return self

    @field_validator("ingest_roots", mode="before")
    @classmethod
    def _folder_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [p for p in text.split(os.pathsep) if p]
        return value

    @property
    def tracks_in_flight(self) -> int:
        """Tracks one worker analyses at once: it reads no further ahead than its buffer."""
        return self.analysis_in_flight or max(1, self.analysis_processes)

    @property
    def signer_chain_path(self) -> Path:
        return self.c2pa_signer_chain or self.c2pa_dir / "signer-chain.pem"

    @property
    def signer_key_path(self) -> Path:
        return self.c2pa_signer_key or self.c2pa_dir / "signer.key"

    @property
    def trust_anchors_path(self) -> Path:
        return self.c2pa_trust_anchors or self.c2pa_dir / "trust-anchors.pem"

    def kafka_broker_port(self, node: int) -> int:
        """Broker (PLAINTEXT) port of local broker `node` (0-based); steps of 2 leave room for
        its controller port beside it."""
        return self.kafka_port + 2 * node

    def kafka_node_controller_port(self, node: int) -> int:
        return self.kafka_controller_port + 2 * node

    def es_http_port(self, node: int) -> int:
        return self.es_port + node

    def es_node_transport_port(self, node: int) -> int:
        return self.es_transport_port + node

    @property
    def kafka_bootstrap(self) -> str:
        """'host:port,host:port', as kafka-python takes it (Faust: see streams.app)."""
        if self.kafka_bootstrap_servers:
            return ",".join(_split_addresses(self.kafka_bootstrap_servers))
        return ",".join(f"{self.kafka_host}:{self.kafka_broker_port(i)}" for i in range(self.kafka_brokers))

    @property
    def es_urls(self) -> list[str]:
        """Every Elasticsearch node the clients may use."""
        if self.es_hosts:
            return _split_addresses(self.es_hosts)
        return [f"http://{self.es_host}:{self.es_http_port(i)}" for i in range(self.es_nodes)]

    @property
    def es_url(self) -> str:
        """The first of `es_urls`, for callers that take one address."""
        return self.es_urls[0]


def _split_addresses(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _count(value: Any) -> int | None:
    """A node count as given (int or environment text); None when absent or not a number, which
    field validation then reports."""
    if value is None:
        return 1
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
