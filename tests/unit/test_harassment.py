import numpy as np
import numpy.typing as npt
import pytest

from detectors.harassment import harassment, load_text_models, tuned_encoder, units
from detectors.names import NameIndex, Person
from detectors.text import TrackText
from detectors.text_classifier import (
    CLASSES,
    ENCODING,
    SEMANTIC_UNITS,
    Adapter,
    HarassmentClassifier,
    LexicalModel,
    TunedHead,
    softmax,
    terms,
)

PEOPLE = NameIndex([Person("Marisol Okafor"), Person("Jonah Pike"), Person("Theo Mbeki-Lund")])


def _severity(field: str, text: str) -> str:
    return harassment(TrackText.one_field(field, text), PEOPLE, load_text_models()).severity


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("title", "Okafor Deserves A Slow Death"),  # a surname alone, a wish of death
        ("title", "okafor ur next 🔪"),
        (
            "description",
            "Pike lives on Mill Lane, blue door. You know what to do",
        ),  # where he lives, told to all
        ("lyrics", "Jonah Pike, I hope you drown in that lake of yours"),
    ],
)
def test_threats_against_a_named_person_are_threats(field: str, text: str) -> None:
    assert _severity(field, text) == "threat"


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("lyrics", "Blood on the pavement, bodies in the trunk / I kill this beat, every single one"),
        ("lyrics", "Pike in the reeds, waiting for the minnows to pass"),  # the fish
        ("title", "Okafor Wins Album Of The Year"),
        ("description", "cover of my favourite Okafor song, love her so much"),
        ("description", "Okafor performing live at the O2 tonight, tickets in bio"),  # a place, told kindly
    ],
)
def test_violent_imagery_without_a_target_and_kind_mentions_are_not_harassment(field: str, text: str) -> None:
    assert _severity(field, text) == "none"


def test_a_pronoun_is_aimed_at_the_person_the_title_names() -> None:
    track = TrackText(source="upload", title="For Marisol Okafor", lyrics="I know where she lives")
    aimed = [u for u in units(track, PEOPLE) if u.targets]
    assert [u.targets for u in aimed] == [["Marisol Okafor"], ["Marisol Okafor"]]
    assert harassment(track, PEOPLE, load_text_models()).severity == "threat"


def _targets(text: str) -> list[list[str]]:
    return [u.targets for u in units(TrackText.one_field("lyrics", text), PEOPLE)]


def test_you_after_a_line_that_speaks_of_someone_is_not_aimed_at_them() -> None:
    """Lyrics put a shout-out beside lines to a rival: "you" is whoever the text speaks to."""
    assert _targets("Jonah Pike plays the best shows in town / fuck you and your whole crew") == [
        ["Jonah Pike"],
        [],
    ]


def test_you_after_a_line_that_speaks_to_someone_is_aimed_at_them() -> None:
    assert _targets("Jonah Pike, you think you're safe / I know where you sleep") == [
        ["Jonah Pike"],
        ["Jonah Pike"],
    ]
    assert _targets("rest easy, Pike / your days are counted") == [["Jonah Pike"], ["Jonah Pike"]]


def test_he_and_she_mean_someone_named_just_before() -> None:
    near = _targets("Pike thinks the beef is over / it ain't / he about to learn")
    assert near == [["Jonah Pike"], [], ["Jonah Pike"]]
    far = _targets("Pike thinks the beef is over / sun is up / birds sing / rain falls / he about to learn")
    assert far[-1] == []


def test_he_and_she_mean_someone_else_the_lines_between_introduce() -> None:
    """ "Pike played the last song / the sheriff left his badge in the river": the badge is the
    sheriff's; a "he" with nobody else in between still means Pike, and "his mama" is his."""
    assert _targets("Pike played the last song / the sheriff left his badge in the river") == [
        ["Jonah Pike"],
        [],
    ]
    assert _targets("Okafor sang all night / Mama's dancing like she's twenty-one") == [
        ["Marisol Okafor"],
        [],
    ]
    assert _targets("Pike ran his mouth again / his mama's ashamed of him") == [
        ["Jonah Pike"],
        ["Jonah Pike"],
    ]


def test_a_name_is_spoken_to_only_where_it_is_set_apart() -> None:
    """A name that ends a clause after a word it belongs to is spoken of, not to; a greeting,
    a title or a "you" before it still speaks to the person."""
    spoken_of = _targets("made this for my friend obsessed with Jonah Pike, she loves it / you a target")
    assert spoken_of[-1] == []
    in_a_list = _targets("Okafor, Pike among the nominees / I'll end you")
    assert in_a_list[-1] == []
    assert _targets("dear Jonah Pike, it's been a while / I know where you sleep")[-1] == ["Jonah Pike"]
    assert _targets("love you Pike / but you better watch your back")[-1] == ["Jonah Pike"]
    thanked = _targets("Okafor could run me over with her tour bus and I'd say thank you / I'll kill you")
    assert thanked[-1] == []


def test_a_hit_names_its_target_however_the_name_was_disguised() -> None:
    found = harassment(
        TrackText.one_field("title", "0k4f0r deserves a slow death"), PEOPLE, load_text_models()
    )
    assert found.hits[0].targets == ["Marisol Okafor"]


def _classifier(threat_words: set[str]) -> HarassmentClassifier:
    """A lexical model that calls a text a threat when it holds one of `threat_words`."""
    weights = {w: np.array([0.0, 0.0, 8.0], np.float32) for w in threat_words}
    head = TunedHead(np.zeros((len(CLASSES), ENCODING), np.float32), np.zeros(len(CLASSES), np.float32))
    return HarassmentClassifier(
        LexicalModel(weights, np.array([2.0, 0.0, 0.0], np.float32)),
        Adapter(1.0, {}),
        head,
        0.5,
        0.5,
        0.8,
        0.8,
        0.5,
    )


def test_the_semantic_model_reads_each_suspicious_text_once_and_a_bounded_number_of_them() -> None:
    read: list[list[str]] = []

    def encode(texts: list[str]) -> npt.NDArray[np.float32]:
        read.append(texts)
        return np.zeros((len(texts), ENCODING), np.float32)

    texts = [f"burn number {i}" for i in range(30)] + ["burn number 0"] * 10 + ["a love song"] * 5
    _classifier({"burn"}).probabilities(texts, encode)
    assert len(read) == 1 and len(read[0]) == SEMANTIC_UNITS == len(set(read[0]))
    assert "a love song" not in read[0]


def test_the_lexical_model_reads_emoji() -> None:
    assert "🔪" in terms("ur next 🔪")


def test_the_tuned_encoder_the_detector_runs_is_the_one_training_fitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from training.harassment import tuning

    monkeypatch.setattr(tuning, "LEARNING_RATE", 0.05)  # a few steps that move the adapters far
    texts = ["Alex is a fraud", "I will hurt Alex tonight", "Alex sang beautifully", "see Alex at the O2"] * 2
    tuned = tuning.tune(texts, np.asarray([1, 2, 0, 0] * 2), epochs=3)
    document = tuned.document()
    head = TunedHead.from_document(document["head"])
    detected = softmax(head.logits(tuned_encoder(Adapter.from_document(document["adapter"]))(texts)))
    untuned = softmax(head.logits(tuned_encoder(Adapter(1.0, {}))(texts)))
    assert len(document["adapter"]["layers"]) == 6 * len(tuning.TARGETS)
    assert np.allclose(detected, tuning.probabilities(tuned, texts), atol=1e-4)
    assert not np.allclose(detected, untuned, atol=1e-2)  # the adapters matter, and are merged


LOOSE = NameIndex(
    [
        Person("Rosalind Mercer"),
        Person("Ottoline Brackenridge"),
        Person("Odalys Quenneville"),
        Person("Temperance Oyelaran"),
        Person("Gomolemo Seitlhamo"),
    ]
)


@pytest.mark.parametrize(
    ("field", "text", "target"),
    [
        ("lyrics", "mercer is a washed up fraud", "Rosalind Mercer"),  # said of the lower-case name
        ("title", "otto gets jumped after the show", "Ottoline Brackenridge"),  # a short form, then a verb
        ("lyrics", "we see mercer at the gig, she won't walk home", "Rosalind Mercer"),  # a pronoun
        ("title", "Quennevillain's last tour", "Odalys Quenneville"),  # a bent name with a possessive
        ("title", "i hope otto drowns", "Ottoline Brackenridge"),  # death wished on a short form
        ("lyrics", "gonna smoke mercer on sight", "Rosalind Mercer"),  # violence done to it
        ("title", "Otto, Nobody Asked", "Ottoline Brackenridge"),  # spoken to, as the unit opens
        ("lyrics", "hey otto, see you at the barrier", "Ottoline Brackenridge"),  # ... after a greeting
        ("title", "Otto B's Last Encore", "Ottoline Brackenridge"),  # said of it past an initial
        ("title", "Tempie Gets Jumped", "Temperance Oyelaran"),  # a pet name, something said of it
        ("title", "Gomz Last Gig", "Gomolemo Seitlhamo"),  # ... or nothing, where it is no word anywhere
        ("title", "Everybody Ratio Tempie O", "Temperance Oyelaran"),  # ... or with more of the name
        ("lyrics", "I know the gate code, Tempie, I know it all", "Temperance Oyelaran"),  # spoken to
        ("lyrics", "you took the trophy, Tempie", "Temperance Oyelaran"),  # ... as the unit ends
    ],
)
def test_short_lower_case_and_bent_names_are_targets_when_the_text_speaks_of_a_person(
    field: str, text: str, target: str
) -> None:
    aimed = [u.targets for u in units(TrackText.one_field(field, text), LOOSE) if u.targets]
    assert aimed == [[target]]


@pytest.mark.parametrize(
    "text",
    [
        "blood on mercer street tonight",  # nothing said of a person
        "they met at the mercer and he paid for the drinks",  # after an article: a place
        "otto von bismarck in a history song",  # a short form with nothing said of it
        "we sang to otto, the old dog, all night",  # a comma after it, but not spoken to
        "burn my Tempie candle all night",  # a pet name after a determiner is a thing
        "dark synthpop, mercer, gated drums",  # a lower-case word in a list of tags
        "Dark Synthwave, Otto, Retro, Neon",  # ... or a capitalised one
        "Rain, Otto, Rain",  # a list, not a clause before the name
        "Tempie The Thief",  # a pet name that is a word somewhere ("tempie" is Polish) asks for more
    ],
)
def test_a_word_that_only_looks_like_a_short_name_is_no_target(text: str) -> None:
    assert [u for u in units(TrackText.one_field("lyrics", text), LOOSE) if u.targets] == []


def test_the_encoder_in_bfloat16_reads_as_in_float32() -> None:
    """Where the CPU has bfloat16 the detector runs MiniLM in it: its encodings stay near
    float32's, far nearer than what tells a threat from praise."""
    from detectors.cpu import bfloat16_native

    if not bfloat16_native():
        pytest.skip("this CPU has no native bfloat16")
    texts = ["I will hurt Alex tonight", "Alex sang beautifully at the O2", "alex is a clown lol"]
    exact, fast = (
        tuned_encoder(Adapter(1.0, {}))(texts),
        tuned_encoder(Adapter(1.0, {}), bfloat16=True)(texts),
    )
    assert not np.array_equal(exact, fast)  # it did run in bfloat16
    cosine = (exact * fast).sum(axis=1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(fast, axis=1)
    assert cosine.min() > 0.99


def test_the_encoder_on_onnx_runtime_reads_as_pytorch_does_alone_or_in_a_padded_batch() -> None:
    """Without native bfloat16 the detector reads units with ONNX Runtime (a third faster): the
    same encodings as PyTorch's, whatever the batch a unit is padded in and the threads."""
    import torch

    from detectors.harassment import base_encoder, base_transformer, pooled_states
    from detectors.text_onnx import OnnxTextEncoder

    encode = tuned_encoder(Adapter(1.0, {}))
    assert isinstance(encode, OnnxTextEncoder)
    texts = ["I will hurt Alex tonight", "a long line about Alex at the O2 and the show and the crowd", "yo"]
    with torch.inference_mode():
        exact = pooled_states(base_transformer().eval(), base_encoder().tokenizer, texts).numpy()
    assert np.allclose(encode(texts), exact, atol=1e-4)
    assert np.allclose(encode(texts[:1])[0], encode(texts)[0], atol=1e-4)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert np.allclose(encode(texts), exact, atol=1e-4)
    finally:
        torch.set_num_threads(threads)
