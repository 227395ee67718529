"""Provenance benchmark: `python -m bench.provenance`. The last line printed is one JSON object.

Generated tracks made through the platform's generator path (bench/provenance/corpus.py) and
unrelated music clips go through the same edits (bench/provenance/edits.py) and then through
the worker's own detectors (Content Credentials, watermark, generation finder against this run's
catalog of generated tracks in Elasticsearch) and the decision rules. Reported per edit:

- `recovered`: share of generated tracks whose generation record was found (by any route), and
  `recovered_by` (manifest / watermark / fingerprint) for those;
- `false_provenance`: unrelated clips given a generation record or an AI label;
- `watermark_fpr`: unrelated clips on which a watermark was detected at the shipped threshold;
- the manifest round trip (valid manifest with the right ingredients read back) and tampering.

Rows are cached (bench/.cache/provenance/rows.jsonl): an interrupted run continues; --fresh
starts over. Analysis runs on `--workers` processes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bench.provenance import corpus
from bench.provenance.analysis import bench_settings, start_worker, upload_rows
from bench.provenance.edits import EDITS
from detectors.credentials import read_credentials
from index.stores import Stores
from streams.detection import trust_anchors

ROWS = corpus.CACHE / "rows.jsonl"


def _done() -> dict[tuple[str, str], dict[str, Any]]:
    if not ROWS.exists():
        return {}
    rows = {}
    for line in ROWS.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut off by a stopped run
        rows[(row["item"], row["edit"])] = row
    return rows


def round_trip(items: list[corpus.Item], anchors: str | None) -> dict[str, float]:
    """Every generated file read back: a trusted manifest naming its record and parents; and a
    copy with a few bytes of its audio changed, reported tampered."""
    valid = tampered = 0
    with tempfile.TemporaryDirectory() as tmp:
        for item in items:
            assert item.record is not None
            read = read_credentials(item.path, anchors)
            parents = [p.id for p in item.record.parents]
            if (
                read.state == "trusted"
                and read.generation_id == item.record.generation_id
                and [i.identifier.split(":", 1)[-1] for i in read.ingredients] == parents
            ):
                valid += 1
            data = bytearray(item.path.read_bytes())
            middle = len(data) * 2 // 3
            data[middle : middle + 256] = bytes(b ^ 0xA5 for b in data[middle : middle + 256])
            changed = Path(tmp) / f"changed{item.path.suffix}"
            changed.write_bytes(bytes(data))
            tampered += read_credentials(changed, anchors).state == "tampered"
    return {"manifest_valid": valid / len(items), "tampered_detected": tampered / len(items)}


def summarise(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    by_edit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_edit[row["edit"]].append(row)
    report: dict[str, Any] = {
        "generated": len({r["item"] for r in rows if r["generated"]}),
        "unrelated": len({r["item"] for r in rows if not r["generated"]}),
        "edits": len(by_edit),
        "watermark_threshold": threshold,
        "recovered": {},
        "recovered_by": {},
        "wrong_generation": {},
        "false_provenance": {},
        "false_ai_labels": {},
        "watermark_fpr": {},
        "watermark_tpr": {},
        "generated_sent_to_review": {},
    }
    for edit in EDITS:
        made = [r for r in by_edit[edit] if r["generated"]]
        other = [r for r in by_edit[edit] if not r["generated"]]
        right = [r for r in made if r["found"] == r["truth"]]
        report["recovered"][edit] = round(len(right) / max(1, len(made)), 3)
        report["recovered_by"][edit] = dict(Counter(r["recovered_by"] for r in right))
        report["wrong_generation"][edit] = sum(1 for r in made if r["found"] and r["found"] != r["truth"])
        report["false_provenance"][edit] = sum(1 for r in other if r["found"] or r["labelled"])
        report["false_ai_labels"][edit] = sum(1 for r in other if r["labelled"])
        report["watermark_fpr"][edit] = round(sum(r["watermark"] for r in other) / max(1, len(other)), 4)
        report["watermark_tpr"][edit] = round(sum(r["watermark"] for r in made) / max(1, len(made)), 3)
        report["generated_sent_to_review"][edit] = round(
            sum(r["action"] == "needs_review" for r in made) / max(1, len(made)), 3
        )
    seconds = sum(r["seconds"] for r in rows)
    report["analysis_x_realtime"] = round(seconds / max(1e-9, sum(r["took_s"] for r in rows)), 1)
    report["detector_errors"] = sum(len(r["errors"]) for r in rows)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generated", type=int, default=100)
    parser.add_argument("--unrelated", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--prefix", default="bench-provenance-", help="index prefix of this benchmark")
    parser.add_argument("--fresh", action="store_true", help="forget cached rows")
    args = parser.parse_args()
    settings = bench_settings(args.prefix)
    stores = Stores.open(settings)
    stores.ensure_indices(0)
    if args.fresh:
        ROWS.unlink(missing_ok=True)
    made = corpus.generated(args.generated, settings, stores)
    others = corpus.unrelated(args.unrelated, backgrounds=40)
    anchors = trust_anchors(settings)
    trip = round_trip(made, anchors)
    done = _done()
    tasks = []
    for index, item in enumerate([*made, *others]):
        missing = [e for e in EDITS if (item.name, e) not in done]
        if missing:
            tasks.append((item, index, missing))
    ROWS.parent.mkdir(parents=True, exist_ok=True)
    with (
        Progress() as progress,
        multiprocessing.get_context("spawn").Pool(args.workers, start_worker, (args.prefix,)) as pool,
        ROWS.open("a") as out,
    ):
        task = progress.add_task(f"analysing {sum(len(t[2]) for t in tasks)} uploads", total=len(tasks))
        for rows in pool.imap_unordered(upload_rows, tasks):
            for row in rows:
                out.write(json.dumps(row) + "\n")
                done[(row["item"], row["edit"])] = row
            out.flush()
            progress.advance(task)
    wanted = {i.name for i in [*made, *others]}
    rows = [r for (name, _), r in done.items() if name in wanted]
    report = {**summarise(rows, settings.watermark_threshold), **trip}
    (corpus.CACHE / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
