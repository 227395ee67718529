import pytest

from detectors.impersonation import name_requests
from detectors.names import NameIndex, Person
from detectors.text import TrackText

REGISTRY = [
    Person("Marisol Okafor", opted_out=True),
    Person("Lil Vexx", opted_out=True),
    Person("Dex Calloway"),
]
OPTED_OUT = NameIndex([p for p in REGISTRY if p.opted_out], among=REGISTRY)


def _asked(field: str, text: str) -> list[str]:
    return [r.artist for r in name_requests(TrackText.one_field(field, text), OPTED_OUT).requests]


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("prompt", "make it sound like 0k4f0r pls same rasp"),
        ("prompt", "sad piano ballad, okafor, 70 bpm"),  # a prompt naming her asks the generator for her
        ("title", "Opp Season ft. vexx (ai vocals)"),
        ("prompt", "L.i.l V.e.x.x flow and voice, autotune heavy"),
        ("description", "Used the Lil Vexx voice model from the discord for the hook"),
        ("title", "LILVEXX TYPE BEAT 2025"),
        ("title", "(FREE) Vexx Type Beat x Sad Reggaeton 'Ya No'"),  # a "no" after the request
        ("description", "#lilvexx ai vocals, he would never lol"),
        ("title", "AI Okafor - Fly Me Away"),
        ("prompt", "@itsokafor vocal clone, slow americana"),  # a handle that ends with her name
        ("prompt", "sound like @okaforsings, power ballad"),  # ... or starts with it
    ],
)
def test_requests_for_an_opted_out_artist_are_found_however_written(field: str, text: str) -> None:
    assert _asked(field, text)


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("description", "Not affiliated with Marisol Okafor or her label. Original song, original vocals."),
        ("prompt", "neo-soul, female vocal. Do NOT imitate Marisol Okafor; use an original voice"),
        ("prompt", "trap beat, original voice, nothing like vexx pls"),
        ("title", "Reacting To Lil Vexx's Podcast Interview"),
        ("prompt", "acoustic song about the night i met lil vexx at a petrol station"),
        ("description", "Written on the train home after a Marisol Okafor gig."),
    ],
)
def test_naming_an_opted_out_artist_without_asking_for_them_is_no_request(field: str, text: str) -> None:
    assert _asked(field, text) == []


def test_an_artist_who_did_not_opt_out_may_be_asked_for() -> None:
    assert _asked("prompt", "in the style of Dex Calloway") == []


def test_lyrics_name_anyone_without_asking() -> None:
    assert _asked("lyrics", "okafor voice, vexx flow") == []
