"""Decisions on covers: a composition's publisher policy, opt-outs of its writers and artists,
royalties for the publishing right beside (never instead of) the master right, and the AI label
naming the song."""

from __future__ import annotations

from decisions.decide import decide
from decisions.policy import MatchRule, Policies, RightsHolderPolicy
from decisions.rules import DecisionContext
from model.events import Action, Decision
from model.findings import CompositionMatch, CompositionMatches, CompositionSegment, Finding
from model.names import fold
from tests.unit.test_decide import DURATION, _finding, analysis, catalog, recording


def song(
    segments: list[tuple[float, float]],
    *,
    policy: str = "monetize",
    holder: str = "Lantern Publishing",
    rate_bp: int = 1500,
    opt_out: bool = False,
    writers: tuple[str, ...] = ("Ida Marsh",),
) -> CompositionMatch:
    seconds = sum(end - start for start, end in segments)
    return CompositionMatch(
        work_id="W-PAPER",
        title="Paper Lanterns",
        writers=list(writers),
        rights_holder=holder,
        policy=policy,  # type: ignore[arg-type]
        opt_out=opt_out,
        royalty_rate_bp=rate_bp,
        segments=[
            CompositionSegment(
                upload_start_s=s,
                upload_end_s=e,
                reference_start_s=s,
                reference_end_s=e,
                performance="QZABC2600001",
                transposition_semitones=3,
                tempo_factor=1.1,
                score=80,
            )
            for s, e in segments
        ],
        seconds_matched=seconds,
        share_of_upload=seconds / DURATION,
        transposition_semitones=3,
        tempo_factor=1.1,
        score=80,
    )


def covers(*matches: CompositionMatch) -> Finding:
    return _finding(
        "composition_match",
        CompositionMatches(matches=list(matches), candidates_considered=len(matches), too_short=False),
    )


def _verdict(decisions: list[Decision]) -> Decision:
    (verdict,) = [d for d in decisions if d.verdict]
    return verdict


def test_an_uploaded_cover_of_a_monetized_song_pays_its_publisher_only() -> None:
    decisions = decide(analysis([covers(song([(0, 60)]))]), Policies())
    assert _verdict(decisions).action is Action.ROYALTY
    (royalty,) = [d.royalty for d in decisions if d.royalty is not None]
    assert royalty.rights_holder == "Lantern Publishing"
    assert royalty.basis_points == 1500 * 60 // 100
    (line,) = royalty.recordings
    assert (line.right, line.work_id, line.isrc) == ("composition", "W-PAPER", "")


def test_a_sampled_master_pays_its_label_and_its_songs_publisher_for_the_same_seconds() -> None:
    """Master and publishing rights are two rights in one moment: neither halves the other."""
    master = recording("QZABC2600001", [(0, 40)], holder="Lantern Records", rate_bp=2000)
    decisions = decide(analysis([catalog(master), covers(song([(0, 40)]))]), Policies())
    paid = {d.royalty.rights_holder: d.royalty.basis_points for d in decisions if d.royalty is not None}
    assert paid == {"Lantern Records": 800, "Lantern Publishing": 600}


def test_two_songs_over_one_stretch_split_it_between_their_publishers() -> None:
    other = song([(0, 40)], holder="Kite Songs", rate_bp=1000).model_copy(update={"work_id": "W-KITE"})
    decisions = decide(analysis([covers(song([(0, 40)]), other)]), Policies())
    paid = {d.royalty.rights_holder: d.royalty.basis_points for d in decisions if d.royalty is not None}
    assert paid == {"Lantern Publishing": 300, "Kite Songs": 200}


def test_a_cover_of_an_opted_out_song_is_taken_down_when_generated_and_reviewed_when_uploaded() -> None:
    opted_out = covers(song([(10, 50)], opt_out=True))
    generated = _verdict(decide(analysis([opted_out], source="generated"), Policies()))
    assert generated.action is Action.TAKEDOWN
    (reason,) = [r for r in generated.reasons if r.code == "opt_out_composition"]
    assert "10-50 s" in reason.message and "'Paper Lanterns' written by Ida Marsh" in reason.message
    assert "+3 semitones, tempo 1.10x" in reason.message
    uploaded = _verdict(decide(analysis([opted_out]), Policies()))
    assert uploaded.action is Action.NEEDS_REVIEW
    assert [d for d in decide(analysis([opted_out]), Policies()) if d.royalty is not None] == []


def test_a_writer_who_opted_out_in_the_registry_blocks_covers_of_her_songs() -> None:
    context = DecisionContext(opted_out_artists=frozenset({fold("Ida Marsh")}))
    verdict = _verdict(decide(analysis([covers(song([(0, 60)]))], source="generated"), Policies(), context))
    assert verdict.action is Action.TAKEDOWN
    assert [r.code for r in verdict.reasons if r.code.startswith("opt_out")] == ["opt_out_composition"]


def test_a_publishers_own_policy_applies_to_its_songs() -> None:
    policies = Policies(
        rights_holders={
            "Lantern Publishing": RightsHolderPolicy(
                rights_holder="Lantern Publishing", version=4, rules=[MatchRule(action="block")]
            )
        }
    )
    verdict = _verdict(decide(analysis([covers(song([(0, 60)]))]), policies))
    assert verdict.action is Action.TAKEDOWN
    assert [r.code for r in verdict.reasons if r.code.startswith("composition")] == ["composition_block"]
    assert "Lantern Publishing@4" in verdict.policy_version


def test_the_ai_label_of_a_generated_cover_names_the_song_and_its_writers() -> None:
    decisions = decide(
        analysis([covers(song([(0, 60)], writers=("Ida Marsh", "Tom Vale")))], source="generated"), Policies()
    )
    label = next(d.label for d in decisions if d.label is not None)
    assert label.summary.startswith("AI cover of 'Paper Lanterns' (written by Ida Marsh, Tom Vale)")
    assert label.digital_source_type.endswith("trainedAlgorithmicMedia")
