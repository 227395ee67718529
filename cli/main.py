"""`clearance`: services, workers, ingestion and the demo."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, cast

import typer
from rich.console import Console

from cli import services
from model.settings import Settings, get_settings
from streams.logs import configure_logging

if TYPE_CHECKING:
    from index.stores import Stores
    from model.events import BackfillTrigger

app = typer.Typer(
    help="Clearance: provenance and content-ID moderation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
services_app = typer.Typer(help="Run the real Kafka and Elasticsearch nodes locally.", no_args_is_help=True)
app.add_typer(services_app, name="services")
catalog_app = typer.Typer(help="Register and remove catalog recordings.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
people_app = typer.Typer(
    help="Real people the checks protect: opt-outs, aliases, voiceprints.", no_args_is_help=True
)
app.add_typer(people_app, name="people")
policy_app = typer.Typer(help="Rights holders' match policies (versioned).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
keys_app = typer.Typer(help="API keys for the review API.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
watermark_app = typer.Typer(help="Embed and detect AudioSeal watermarks.", no_args_is_help=True)
app.add_typer(watermark_app, name="watermark")
backfill_app = typer.Typer(
    help="Retroactive claims: backfills after catalog, policy and opt-out changes.", no_args_is_help=True
)
app.add_typer(backfill_app, name="backfill")
credentials_app = typer.Typer(
    help="Content Credentials (C2PA): signing chain, reading.", no_args_is_help=True
)
app.add_typer(credentials_app, name="credentials")
console = Console()


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


KafkaBrokersOption = Annotated[
    int | None,
    typer.Option("--kafka-brokers", min=1, help="Kafka brokers (default: CLEARANCE_KAFKA_BROKERS, 1)"),
]
EsNodesOption = Annotated[
    int | None,
    typer.Option("--es-nodes", min=1, help="Elasticsearch nodes (default: CLEARANCE_ES_NODES, 1)"),
]


BackfillOption = Annotated[
    bool,
    typer.Option(
        "--backfill/--no-backfill", help="claim the existing uploads the change affects (retroactive claims)"
    ),
]


def _backfill(
    trigger: BackfillTrigger,
    subjects: list[str],
    rights_holder: str | None = None,
    names: list[str] | None = None,
) -> None:
    """Start the change's backfill; a failure to reach Kafka is said, not fatal (the change is made)."""
    from cli.backfill import start_backfills, started_line
    from streams.backfill import OPERATOR

    try:
        job_ids = start_backfills(
            _stores(), get_settings(), trigger, subjects, rights_holder or OPERATOR, names
        )
    except Exception as exc:
        console.print(
            f"[yellow]backfill not started[/yellow] ({type(exc).__name__}: {exc}); "
            f"start it with `clearance backfill request {trigger} SUBJECT`",
            highlight=False,
        )
        return
    started_line(
        f"{len(subjects)} {trigger.replace('_', '-')} change(s)",
        job_ids,
        lambda line: console.print(line, highlight=False),
    )


def _cluster_settings(kafka_brokers: int | None, es_nodes: int | None) -> Settings:
    """The settings with the command line's node counts; replication defaults follow them."""
    counts = {"kafka_brokers": kafka_brokers, "es_nodes": es_nodes}
    given = {name: count for name, count in counts.items() if count is not None}
    return Settings(**given) if given else get_settings()  # type: ignore[arg-type]


@services_app.command("up")
def services_up(kafka_brokers: KafkaBrokersOption = None, es_nodes: EsNodesOption = None) -> None:
    """Fetch (first time), start and wait for Kafka and Elasticsearch, one node each or a
    cluster of several. Nodes already running are left alone."""
    settings = _cluster_settings(kafka_brokers, es_nodes)
    try:
        services.up(settings, console.print)
    except services.ServiceError as exc:
        _fail(str(exc))
    configured = get_settings()
    if (settings.kafka_brokers, settings.es_nodes) != (configured.kafka_brokers, configured.es_nodes):
        console.print(
            f"so workers, the API and `submit` use every node: export "
            f"CLEARANCE_KAFKA_BROKERS={settings.kafka_brokers} CLEARANCE_ES_NODES={settings.es_nodes}",
            highlight=False,
        )


@services_app.command("down")
def services_down() -> None:
    """Stop every node of both services; no process is left behind."""
    services.down(get_settings(), console.print)


@services_app.command("status")
def services_status(kafka_brokers: KafkaBrokersOption = None, es_nodes: EsNodesOption = None) -> None:
    """Say what runs where, node by node."""
    for s in services.status(_cluster_settings(kafka_brokers, es_nodes)):
        state = f"running (pid {s.pid})" if s.running else "stopped"
        console.print(
            f"{s.name}: {state} at {s.address}, {s.health}; log {s.log}", highlight=False, soft_wrap=True
        )


@catalog_app.command("add")
def catalog_add(
    manifest: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or CSV, one row per recording")
    ],
    backfill: BackfillOption = True,
) -> None:
    """Fingerprint whole recordings and register them (re-adding an ISRC updates it), then start
    a backfill per recording that claims the existing uploads using it.

    Columns: file (audio, relative to the manifest), isrc, title, artists (';'-separated in CSV),
    rights_holder, catalog, policy (block|monetize|track), artist_opt_out, royalty_rate_bp
    (or royalty_rate as a fraction), work_id (the composition it performs, registered first with
    `catalog add-compositions`: the master becomes a performance the cover check knows)."""
    from rich.progress import Progress

    from cli.catalog import ManifestError, add_from_manifest, read_manifest

    settings = get_settings()
    try:
        isrcs = [meta.isrc for _, meta in read_manifest(manifest)]
        total = len(isrcs)
        stores = _stores()
        with Progress(console=console) as progress:
            task = progress.add_task("fingerprinting", total=total)
            written = add_from_manifest(
                manifest, settings, stores.catalog, lambda n: progress.advance(task, n), stores.compositions
            )
    except ManifestError as exc:
        _fail(str(exc))
    console.print(f"registered {written} recording(s)")
    if backfill:
        _backfill("recording", isrcs)


@catalog_app.command("add-compositions")
def catalog_add_compositions(
    manifest: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or CSV, one row per composition")
    ],
    backfill: BackfillOption = True,
) -> None:
    """Register compositions (songs as written) for their publishers (re-adding a work id
    updates it, if it is the same publisher's).

    Columns: work_id (an ISWC or the publisher's own id), iswc, title, writers and artists
    (';'-separated in CSV), rights_holder (the publisher), policy (block|monetize|track),
    opt_out, royalty_rate_bp (or royalty_rate as a fraction), and optionally file: a reference
    performance of the song (masters that name the work id become performances too)."""
    from rich.progress import Progress

    from cli.catalog import ManifestError, add_compositions, read_compositions

    settings = get_settings()
    try:
        work_ids = [meta.work_id for _, meta in read_compositions(manifest)]
        total = len(work_ids)
        stores = _stores()
        with Progress(console=console) as progress:
            task = progress.add_task("registering compositions", total=total)
            written = add_compositions(
                manifest, settings, stores.catalog, stores.compositions, lambda n: progress.advance(task, n)
            )
    except ManifestError as exc:
        _fail(str(exc))
    console.print(f"registered {written} composition(s)")
    if backfill:
        _backfill("composition", work_ids)


@catalog_app.command("reprint")
def catalog_reprint(
    manifest: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="the manifest the recordings were added with")
    ],
) -> None:
    """Give recordings registered before the modified-match fingerprint, or with peaks of an older
    format, the current peaks from their audio files. Resumable: recordings already done are
    skipped, each is written on its own."""
    from rich.progress import Progress

    from cli.catalog import ManifestError, read_manifest, reprint_from_manifest

    settings = get_settings()
    stores = _stores()
    try:
        total = len(read_manifest(manifest))
        with Progress(console=console) as progress:
            task = progress.add_task("adding peaks", total=total)
            report = reprint_from_manifest(
                manifest, settings, stores.catalog, lambda n: progress.advance(task, n)
            )
    except ManifestError as exc:
        _fail(str(exc))
    console.print(
        f"updated {report.updated}, already current {report.already_current}, "
        f"not registered {report.not_registered}; "
        f"{stores.catalog.without_current_peaks()} recording(s) in the catalog still lack them"
    )
    for label, isrcs in (
        ("not the registered audio", report.not_the_registered_audio),
        ("unreadable", report.unreadable),
    ):
        if isrcs:
            console.print(f"{label}: {', '.join(isrcs)}", highlight=False)


@catalog_app.command("renew-terms")
def catalog_renew_terms() -> None:
    """Give registered recordings and generated tracks the current retrieval terms of the
    modified-match fingerprint, made from their stored peaks, and compositions' performances the
    current section and tune vectors, made from their stored prints and lead lines (after an
    upgrade that changed the terms but not the prints; no audio needed). Resumable: each document
    is written on its own."""
    from functools import partial

    from rich.progress import Progress

    from index.catalog import renew_modified_terms, with_older_modified_terms
    from index.compositions import renew_section_vectors, with_older_section_vectors

    stores = _stores()
    catalogs = {"recordings": stores.indices.catalog, "generated tracks": stores.indices.generated}
    with Progress(console=console) as progress:
        for label, index in catalogs.items():
            task = progress.add_task(label, total=with_older_modified_terms(stores.es, index))
            renewed = renew_modified_terms(stores.es, index, partial(progress.advance, task))
            console.print(f"{label}: {renewed} renewed")
        renewable, _ = with_older_section_vectors(stores.es, stores.indices)
        task = progress.add_task("composition performances", total=renewable)
        renewed = renew_section_vectors(stores.es, stores.indices, partial(progress.advance, task))
        console.print(f"composition performances: {renewed} renewed")
    _, need_audio = with_older_section_vectors(stores.es, stores.indices)
    if need_audio:
        console.print(
            f"{need_audio} composition performance(s) have a lead line of an older version or none: "
            "they are searched by chroma alone until registered again from their audio "
            "(`clearance catalog add-compositions` or `clearance catalog add`)"
        )
    console.print(
        f"{stores.catalog.without_current_peaks()} recording(s) still lack the current fingerprint "
        "(registered before it existed, or with peaks of an older format: `clearance catalog reprint "
        "MANIFEST`, or register them again through the API)"
    )


@catalog_app.command("remove")
def catalog_remove(isrc: str) -> None:
    """Remove a recording from the catalog."""
    if not _stores().catalog.remove(isrc):
        _fail(f"no recording with ISRC {isrc}")
    console.print(f"removed {isrc}")


@app.command()
def worker() -> None:
    """Run the Faust workers (analyze, decide, index, backfill) until interrupted."""
    from streams.worker import prepare_services, run_worker

    settings = get_settings()
    configure_logging(settings)
    try:
        prepare_services(settings)
    except Exception as exc:  # unreachable services: say so in one line
        _fail(
            f"cannot reach Kafka at {settings.kafka_bootstrap} or Elasticsearch at "
            f"{','.join(settings.es_urls)} "
            f"({type(exc).__name__}: {exc}); start them with `clearance services up`"
        )
    run_worker(settings)


@app.command()
def submit(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    generated: Annotated[bool, typer.Option("--generated", help="made by the platform's generator")] = False,
    title: Annotated[str | None, typer.Option(help="defaults to the file name")] = None,
    artist: Annotated[list[str] | None, typer.Option(help="credited artist (repeatable)")] = None,
    prompt: Annotated[str | None, typer.Option(help="generation prompt")] = None,
    description: Annotated[str, typer.Option()] = "",
    lyrics: Annotated[str | None, typer.Option()] = None,
    uploader: Annotated[str, typer.Option(help="uploader id")] = "cli",
    declared_ai: Annotated[str, typer.Option(help="none | assisted | generated")] = "none",
    parent: Annotated[list[str] | None, typer.Option(help="track id this derives from (repeatable)")] = None,
    track_id: Annotated[
        str | None, typer.Option(help="only with one file; default: from the audio's sha256")
    ] = None,
) -> None:
    """Store audio by content and publish a TrackSubmitted event per file."""
    from pydantic import ValidationError

    from model.events import TrackMetadata, describe_validation_error
    from streams.admin import ensure_topics
    from streams.ingest import submit as submit_tracks

    if track_id and len(files) > 1:
        _fail("--track-id names one track; give one file")
    try:
        meta = TrackMetadata.model_validate(
            {
                "source": "generated" if generated else "upload",
                "title": title,
                "artists": artist or [],
                "uploader_id": uploader,
                "description": description,
                "prompt": prompt,
                "lyrics": lyrics,
                "declared_ai_use": declared_ai,
                "parent_track_ids": parent or [],
                "track_id": track_id,
            }
        )
    except ValidationError as exc:
        _fail(describe_validation_error(exc))
    settings = get_settings()
    try:
        ensure_topics(settings)
        submissions = submit_tracks(list(files), meta, settings)
    except Exception as exc:
        _fail(
            f"could not publish to Kafka at {settings.kafka_bootstrap} ({type(exc).__name__}: {exc}); "
            "is it running? `clearance services status`"
        )
    for s in submissions:
        typer.echo(json.dumps({"track_id": s.track_id, "event_id": s.event_id, "audio_uri": s.audio_uri}))


@app.command()
def demo() -> None:
    """Start the services, submit synthesized demo tracks, and show the decisions."""
    from cli.demo import run_demo

    settings = get_settings()
    try:
        ok = run_demo(settings, console)
    except services.ServiceError as exc:
        _fail(str(exc))
    if not ok:
        raise typer.Exit(1)


@app.command()
def show(track_id: str) -> None:
    """Print a track's provenance record and its decisions as JSON."""
    stores = _stores()
    record = stores.records.get(track_id)
    if record is None:
        _fail(f"no provenance record for {track_id}")
    record.pop("findings", None)
    typer.echo(json.dumps({"record": record, "decisions": stores.decisions.history(track_id)}, indent=2))


def _stores() -> Stores:
    """The index stores, with the templates and indices in place."""
    from index.stores import Stores

    settings = get_settings()
    stores = Stores.open(settings)
    stores.ensure_indices(settings.es_replicas)
    return stores


@people_app.command("add")
def people_add(
    name: str,
    alias: Annotated[
        list[str] | None, typer.Option(help="another spelling or stage name (repeatable)")
    ] = None,
    opt_out: Annotated[
        bool | None, typer.Option("--opt-out/--opt-in", help="opt the artist out of (or back into) AI uses")
    ] = None,
    registered_by: Annotated[str | None, typer.Option(help="who registers them (a rights holder)")] = None,
) -> None:
    """Register a person, or update their aliases and opt-out."""
    registry = _stores().registry
    try:
        person = registry.register_person(name, aliases=alias, opted_out=opt_out, registered_by=registered_by)
    except ValueError as exc:
        _fail(str(exc))
    else:
        person.pop("voiceprint", None)
        typer.echo(json.dumps(person, indent=2))
        if opt_out is not None:
            names = [str(person.get("name") or name), *person.get("aliases", [])]
            _backfill("opt_out", [name], registered_by, names)


@people_app.command("voice")
def people_voice(
    name: str,
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Register a voiceprint for a person from reference recordings of their voice."""
    from cli.registry import RegistryInputError, register_voice

    try:
        clips = register_voice(_stores().registry, name, files)
    except (RegistryInputError, ValueError) as exc:
        _fail(str(exc))
    else:
        console.print(f"voiceprint for {name} from {clips} clip(s)", highlight=False)


@policy_app.command("set")
def policy_set(
    rights_holder: Annotated[str, typer.Argument(help="the holder's name, or _default")],
    rules: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON list of match rules")],
) -> None:
    """Store a new version of a rights holder's policy (rules: see decisions/policy.py)."""
    from cli.registry import RegistryInputError, policy_from_file, policy_json

    try:
        policy = policy_from_file(_stores().registry, rights_holder, rules)
    except RegistryInputError as exc:
        _fail(str(exc))
    else:
        typer.echo(policy_json(policy))
        _backfill("policy", [rights_holder], rights_holder)


@policy_app.command("show")
def policy_show(rights_holder: Annotated[str, typer.Argument(help="the holder's name, or _default")]) -> None:
    """Print the holder's current policy (the default one when they have none)."""
    from cli.registry import policy_json

    typer.echo(policy_json(_stores().registry.current_policies().for_holder(rights_holder)))


@keys_app.command("create")
def keys_create(
    role: Annotated[
        str, typer.Option(help="reviewer | senior_reviewer | rights_holder | ingest | generator | admin")
    ],
    name: Annotated[str, typer.Option(help="who holds the key (shown in the audit trail)")],
    rights_holder: Annotated[str | None, typer.Option(help="for rights_holder keys: whose records")] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    keys = _stores().keys
    try:
        secret, key = keys.create(role, name, rights_holder)  # type: ignore[arg-type]
    except ValueError as exc:
        _fail(str(exc))
    else:
        typer.echo(
            json.dumps(
                {"key": secret, "key_id": key.key_id, "role": key.role, "rights_holder": key.rights_holder}
            )
        )


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by its id."""
    if not _stores().keys.revoke(key_id):
        _fail(f"no key {key_id}")
    console.print(f"revoked {key_id}")


@backfill_app.command("status")
def backfill_status(
    job_id: Annotated[str | None, typer.Argument(help="one job (default: the latest jobs)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List backfill jobs: what triggered each, tracks found, sent through again, decided again,
    decided otherwise than before, and its state (queued, running, published, done, failed)."""
    from rich.table import Table

    from cli.backfill import STATUS_COLUMNS, status_rows

    jobs = _stores().backfill_jobs
    if job_id is not None:
        job = jobs.get(job_id)
        if job is None:
            _fail(f"no backfill job {job_id}")
        listed = [job]
    else:
        listed = jobs.listing()
    if as_json:
        typer.echo(json.dumps(listed, indent=2))
        return
    table = Table(*STATUS_COLUMNS, "created_at")
    for row in status_rows(listed):
        table.add_row(*row)
    console.print(table)


@backfill_app.command("request")
def backfill_request(
    trigger: Annotated[str, typer.Argument(help="recording | composition | policy | opt_out")],
    subject: Annotated[str, typer.Argument(help="ISRC, work id, rights holder, or person")],
    alias: Annotated[list[str] | None, typer.Option(help="opt_out: another name of the person")] = None,
) -> None:
    """Start a backfill by hand (e.g. when a change's own could not reach Kafka)."""
    if trigger not in ("recording", "composition", "policy", "opt_out"):
        _fail(f"unknown trigger {trigger}")
    names = [subject, *(alias or [])] if trigger == "opt_out" else None
    _backfill(cast("BackfillTrigger", trigger), [subject], subject if trigger == "policy" else None, names)


@backfill_app.command("index-terms")
def backfill_index_terms() -> None:
    """Give provenance records indexed before retroactive claims their fingerprint's retrieval
    terms, from the stored fingerprint (no audio is decoded; safe to repeat)."""
    console.print(f"indexed the terms of {_stores().backfills.index_missing_terms()} record(s)")


@app.command()
def reprocess(
    since: Annotated[
        datetime, typer.Option(help="tracks submitted or analysed since (ISO date or date-time, UTC)")
    ],
    detector: Annotated[
        str | None,
        typer.Option(help="only tracks whose finding of this detector is of another version, or an error"),
    ] = None,
) -> None:
    """Run the analysis of stored tracks again, through Kafka (after a detector upgrade). Their
    decisions go through decide and index as always; royalties are never paid twice and an
    unchanged verdict is not published again. Resumable: the same command goes on where it stopped."""
    from rich.progress import Progress

    from cli.backfill import detector_versions
    from streams.admin import ensure_topics
    from streams.backfill import RoundCount, replay
    from streams.publisher import Publisher

    settings = get_settings()
    stores = _stores()
    versions = detector_versions()  # in the job id: after an upgrade, the same command runs again
    if detector and detector not in versions:
        _fail(f"unknown detector {detector}; one of {', '.join(sorted(versions))}")
    moment = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    try:
        ensure_topics(settings)
        with Publisher(settings) as publisher, Progress(console=console) as progress:
            task = progress.add_task("sending tracks through again", total=None)
            count: RoundCount = replay(
                stores.backfills,
                stores.backfill_jobs,
                publisher,
                settings,
                moment,
                detector,
                versions,
                lambda n: progress.advance(task, n),
            )
    except Exception as exc:
        _fail(f"reprocessing stopped ({type(exc).__name__}: {exc}); run the same command again to resume")
    console.print(
        f"found {count.found} track(s), sent {count.republished} through again; "
        "follow them with `clearance backfill status`",
        highlight=False,
    )


@app.command()
def api() -> None:
    """Serve the review API and the reviewer page (CLEARANCE_API_HOST:CLEARANCE_API_PORT)."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    configure_logging(settings)
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info")


@watermark_app.command("embed")
def watermark_embed(
    source: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    target: Annotated[Path, typer.Argument(help="output file; the suffix picks the format (.flac, .wav)")],
    generator: Annotated[str, typer.Option(help="generator id or registered name (payload.py)")],
    model_version: Annotated[int, typer.Option(help="the generator's model version, 0-15")] = 0,
) -> None:
    """Watermark an audio file with the generator's 16-bit payload."""
    from cli.watermark import embed_file
    from detectors.audio import DecodeError
    from detectors.watermark.payload import Payload, generator_id

    try:
        payload = Payload(generator_id(generator), model_version)
        snr = embed_file(source, target, payload, get_settings().watermark_generator)
    except (ValueError, DecodeError) as exc:
        _fail(str(exc))
    else:
        console.print(
            f"{target}: payload {payload.value:#06x} ({payload.generator_name} v{payload.model_version}), "
            f"watermark {snr:.1f} dB below the audio",
            highlight=False,
        )


@watermark_app.command("detect")
def watermark_detect(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Print the watermark detection for an audio file as JSON."""
    from cli.watermark import detect_file
    from detectors.audio import DecodeError
    from detectors.watermark.detect import AudioTooShort

    settings = get_settings()
    try:
        result = detect_file(path, settings.watermark_detector, settings.watermark_threshold)
    except (AudioTooShort, DecodeError) as exc:
        _fail(str(exc))
    else:
        typer.echo(result.model_dump_json(indent=2, exclude={"per_second"}))


@credentials_app.command("dev-chain")
def credentials_dev_chain(
    force: Annotated[bool, typer.Option(help="replace an existing chain")] = False,
) -> None:
    """Make a development signing chain and trust anchor (setup runs this once)."""
    from cli.credentials import write_dev_chain

    settings = get_settings()
    chain, key, anchors = settings.signer_chain_path, settings.signer_key_path, settings.trust_anchors_path
    if chain.exists() and key.exists() and anchors.exists() and not force:
        console.print(f"a signing chain is already in place ({chain}); --force replaces it", highlight=False)
        return
    write_dev_chain(chain, key, anchors)
    console.print(f"signer chain {chain}, key {key}, trust anchor {anchors}", highlight=False)


@credentials_app.command("read")
def credentials_read(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Print the Content Credential in an audio file, validated, as JSON."""
    from detectors.credentials import read_credentials
    from streams.detection import trust_anchors

    typer.echo(read_credentials(path, trust_anchors(get_settings())).model_dump_json(indent=2))


@app.command("generate-record")
def generate_record(
    source: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="generator output")
    ],
    target: Annotated[
        Path, typer.Argument(help="output file; the suffix picks the format (.wav .flac .mp3 .m4a)")
    ],
    generator: Annotated[str, typer.Option(help="registered generator name or id (payload.py)")],
    model_version: Annotated[int, typer.Option(help="the generator's model version, 0-15")] = 0,
    prompt: Annotated[str | None, typer.Option(help="the generation prompt")] = None,
    parent: Annotated[
        list[str] | None, typer.Option(help="a master it was made from: ISRC or ISRC=title (repeatable)")
    ] = None,
    generation_id: Annotated[str | None, typer.Option(help="default: from the audio's sha256")] = None,
) -> None:
    """Watermark a generated track, register its generation record and fingerprints, and sign
    its Content Credential into the output."""
    from pydantic import ValidationError

    from detectors.audio import DecodeError
    from model.events import describe_validation_error
    from model.generation import GenerationIn, ParentWork
    from streams.generation import Generations

    try:
        request = GenerationIn(
            generation_id=generation_id,
            generator=generator,
            model_version=model_version,
            prompt=prompt,
            parents=[ParentWork(id=p.partition("=")[0], title=p.partition("=")[2]) for p in parent or []],
        )
    except ValidationError as exc:
        _fail(describe_validation_error(exc))
    stores = _stores()
    try:
        record = Generations(get_settings(), stores.generated).make(source, target, request)
    except (ValueError, DecodeError, FileNotFoundError) as exc:
        _fail(str(exc))
    finally:
        stores.close()
    typer.echo(record.model_dump_json(indent=2))


if __name__ == "__main__":
    app()
