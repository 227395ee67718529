"""The reviewer page in headless Chromium (Debian's package, driven by Playwright): load a case,
see its evidence timeline, overturn it, see the change. Screenshots go to artifacts/."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from elasticsearch import Elasticsearch
from playwright.sync_api import expect, sync_playwright

from cli.catalog import add_from_manifest
from corpus import synth
from index.names import Indices
from index.stores import Stores
from model.events import TrackMetadata
from model.settings import PROJECT_ROOT, Settings
from streams.ingest import submission_for
from tests.integration.test_catalog import write_manifest
from tests.integration.test_pipeline import decided_record, eventually, publish

pytestmark = pytest.mark.integration
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "artifacts"
RATE = synth.SAMPLE_RATE


@pytest.fixture(scope="module")
def case_track(
    live_settings: Settings,
    es: Elasticsearch,
    stores: Stores,
    worker: subprocess.Popen[bytes],
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A needs_review case with a catalog match (timeline) and targeted abuse (flagged words)."""
    folder = tmp_path_factory.mktemp("page")
    synth.write(folder / "m.flac", synth.song(seed=501, seconds=40))
    manifest = write_manifest(
        folder,
        [
            {
                "file": "m.flac",
                "isrc": "QZPAG2600001",
                "title": "Page Song",
                "artists": ["Pia"],
                "rights_holder": "Page Records",
                "policy": "track",
            }
        ],
    )
    add_from_manifest(manifest, live_settings, stores.catalog)
    stores.registry.register_person("Ola Brandt")
    time.sleep(live_settings.registry_cache_seconds + 0.5)
    audio = np.concatenate(
        [synth.song(seed=502, seconds=6), synth.song(seed=501, seconds=40)[10 * RATE : 25 * RATE]]
    )
    path = synth.write(folder / "case.mp3", audio)
    sub = submission_for(
        path,
        TrackMetadata(
            title="Page Case", description="Ola Brandt is a talentless fucking fraud", track_id="page-case"
        ),
        live_settings,
    )
    publish(live_settings, (sub.track_id, sub.to_bytes()))
    record = eventually(decided_record(es, live_settings, sub), what="the case's decision")
    assert record["decision"]["action"] == "needs_review"
    es.indices.refresh(index=Indices(live_settings.index_prefix).provenance)
    return sub.track_id


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (scripts/setup.sh installs it)"
)
def test_a_reviewer_overturns_a_case_from_the_page(
    api_server: str, live_settings: Settings, es: Elasticsearch, stores: Stores, case_track: str
) -> None:
    key, _ = stores.keys.create("reviewer", "page-reviewer")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        refused: list[str] = []  # Chromium reports each CSP violation on the console
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.goto(f"{api_server}/review")
        page.fill("#key", key)
        page.click("#load")
        case = page.locator(f'#cases li[data-track="{case_track}"]')
        expect(case).to_be_visible(timeout=15_000)
        case.click()
        expect(page.locator("#action")).to_have_text("needs_review", timeout=15_000)
        expect(page.locator("#timeline rect.match").first).to_be_visible()
        expect(page.locator("#timeline .words")).to_contain_text("talentless")
        expect(page.locator("#player")).to_have_attribute("src", re.compile(r"^blob:"))  # media-src
        page.screenshot(path=str(ARTIFACTS / "reviewer-page-case.png"), full_page=True)
        page.fill("#why", "criticism of a public figure, not harassment")
        page.click("#overturn")
        expect(page.locator("#status")).to_contain_text("decision is now allow", timeout=30_000)
        expect(page.locator("#action")).to_have_text("allow")
        page.screenshot(path=str(ARTIFACTS / "reviewer-page-overturned.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "reviewer-page-overturned.png").stat().st_size > 10_000
    assert not refused, refused  # the page runs under its Content-Security-Policy without violations


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_the_page_escapes_quotes_as_well_as_markup(api_server: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{api_server}/review")
        escaped = page.evaluate("""esc(`<b title="x" data-y='z'>&`)""")
        browser.close()
    assert escaped == "&lt;b title=&quot;x&quot; data-y=&#39;z&#39;&gt;&amp;"
