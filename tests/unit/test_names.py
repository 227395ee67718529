import pytest

from detectors.names import NameIndex, Person
from model.common_words import COMMON_WORDS
from model.names import alias_problem, fold

PEOPLE = [
    Person("Taylor Swift", aliases=("T-Swift",)),
    Person("Sia"),
    Person("Beyoncé"),
    Person("Ed Sheeran"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in the style of TAYLOR SWIFT", ["Taylor Swift"]),
        ("taylor  swift voice", ["Taylor Swift"]),
        ("Tayler Swift type beat", ["Taylor Swift"]),  # one letter off
        ("#taylorswift vibes", ["Taylor Swift"]),  # spaces dropped
        ("sounds like t-swift", ["Taylor Swift"]),  # registered alias
        ("beyonce ballad", ["Beyoncé"]),  # accents folded
        ("a song like Sia", ["Sia"]),
        ("walking by the sea", []),  # short names must match exactly
        ("a swift taylor-made suit", []),  # the words, but not the name
        ("Ed Sheeran's loop pedal", ["Ed Sheeran"]),  # one hit, not two overlapping ones
    ],
)
def test_names_are_found_despite_case_spacing_accents_and_typos(text: str, expected: list[str]) -> None:
    assert [h.person.name for h in NameIndex(PEOPLE).find(text)] == expected


REGISTRY = [
    Person("Marisol Okafor", opted_out=True),
    Person("Lil Vexx"),
    Person("Jonah Pike"),
    Person("Hannah Brightwater"),
    Person("Bellamy Frost"),
    Person("Dana Frost"),
    Person("Taylor Swift"),
    Person("Luz Marina Ocampo"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("okafor is finished", ["Marisol Okafor"]),  # a rare surname alone, in lower case
        ("0k4f0r voice please", ["Marisol Okafor"]),  # digits for letters
        ("t4yl0r sw1ft ai cover", ["Taylor Swift"]),
        ("make it sound like Ok\u0430for", ["Marisol Okafor"]),  # a Cyrillic a
        ("s.w.i.f.t vocals", ["Taylor Swift"]),  # spelled out on purpose
        ("o k a f o r", ["Marisol Okafor"]),
        ("#JusticeForOkafor", ["Marisol Okafor"]),  # a hashtag split where its case changes
        ("@taylorswift13 is over", ["Taylor Swift"]),  # a handle with digits
        ("Okafors fans are loud", ["Marisol Okafor"]),  # a possessive without its apostrophe
        ("vexx is a clown", ["Lil Vexx"]),  # the word of a stage name after its title
        ("Pike is a fraud", ["Jonah Pike"]),  # an ordinary word, with a capital: the person
        ("caught a pike at the lake", []),  # the same word in lower case: a fish
        ("frost on the window", []),
        ("Frost again", []),  # two registered Frosts: the surname names neither
        ("hannah is late", []),  # a common first name alone names nobody
        ("Brightwater's new single", ["Hannah Brightwater"]),
        ("Brihgtwater again", ["Hannah Brightwater"]),  # two letters swapped: one edit
        ("okaforcore playlist", ["Marisol Okafor"]),  # a name made into a word
        ("luz marina type beat", ["Luz Marina Ocampo"]),  # the given names of a three-word name
    ],
)
def test_people_are_found_by_distinctive_parts_and_disguised_spellings(
    text: str, expected: list[str]
) -> None:
    assert [h.person.name for h in NameIndex(REGISTRY).find(text)] == expected


def test_a_part_shared_with_someone_outside_the_index_names_nobody() -> None:
    opted_out = NameIndex([p for p in REGISTRY if p.opted_out or p.name == "Bellamy Frost"], among=REGISTRY)
    assert opted_out.find("Frost voice model") == []
    assert [h.person.name for h in opted_out.find("Bellamy voice")] == ["Bellamy Frost"]


def test_hits_point_at_the_text_as_written() -> None:
    text = "remix in the style of TAYLOR   swift please"
    (hit,) = NameIndex(PEOPLE).find(text)
    assert text[hit.start : hit.end] == hit.matched == "TAYLOR   swift"


def test_fold() -> None:
    assert fold("  Beyoncé—Knowles! ") == "beyonce knowles"


@pytest.mark.parametrize(
    ("alias", "why"),
    [
        ("the", "common words"),
        ("Love", "common words"),
        ("BABY", "common words"),
        ("you", "common words"),
        ("The Love", "common words"),  # only common words, however many
        ("Oh, Baby!", "common words"),
        ("DJ", "too short"),
        ("a.b", "too short"),
        ("—!?", "no letters or digits"),
    ],
)
def test_aliases_too_short_or_too_common_are_refused_with_the_reason(alias: str, why: str) -> None:
    problem = alias_problem(alias)
    assert problem is not None and why in problem and repr(alias) in problem


@pytest.mark.parametrize("alias", ["T-Swift", "Sia", "Baby Keem", "Queen B", "AC/DC", "Beyoncé"])
def test_aliases_that_name_someone_are_accepted(alias: str) -> None:
    assert alias_problem(alias) is None


def test_common_words_are_stored_folded() -> None:
    assert all(fold(word) == word for word in COMMON_WORDS)


LOOSE_REGISTRY = [
    Person("Rosalind Mercer"),
    Person("Ottoline Brackenridge"),
    Person("Odalys Quenneville"),
    Person("Los Halcones de Tijuana"),
    Person("Yuma Tachikawa"),
    Person("Celia Marsh"),
    Person("Celia Brandt"),
    Person("Grupo Frontera"),
]


@pytest.mark.parametrize(
    ("text", "expected", "certain"),
    [
        ("mercer is a fraud", "Rosalind Mercer", False),  # a surname that is also a word, in lower case
        ("otto gets jumped after the show", "Ottoline Brackenridge", False),  # the start of a name
        ("ottolineee ur done", "Ottoline Brackenridge", False),  # the last letter drawn out
        ("Quennevillain strikes again", "Odalys Quenneville", False),  # a name bent into a coinage
        ("Quenne-villain strikes again", "Odalys Quenneville", False),  # bent, over a hyphen
        ("yum4 ur finished", "Yuma Tachikawa", True),  # digits for letters in a short name
        ("los halcones play tonight", "Los Halcones de Tijuana", True),  # two words of a long name
        ("#mercerflop trending", "Rosalind Mercer", True),  # a hashtag that starts with a name part
        ("@rozquenneville at the gig", "Odalys Quenneville", True),  # a handle that ends with one
        ("#freetachikawa99", "Yuma Tachikawa", True),  # ... before a number
        ("@itstachikawamusic", "Yuma Tachikawa", True),  # ... or a handle's suffix
    ],
)
def test_loose_forms_name_people_and_say_whether_they_could_be_other_words(
    text: str, expected: str, certain: bool
) -> None:
    index = NameIndex(LOOSE_REGISTRY)
    (hit,) = index.find(text, loose=True)
    assert (hit.person.name, hit.certain) == (expected, certain)


@pytest.mark.parametrize(
    "text",
    [
        "ottomans and sofas",  # a word that starts like a name but keeps too little of it
        "brackets on the wall",  # too little of the name is kept
        "celia is late",  # a first name two people share names neither
        "the bride in the chapel",  # a short word that starts a name is a word
        "#citymarsh",  # a tag that ends with a short or common name part
        "#musicadelafrontera",  # ... or with a word of another language ("frontera", Spanish)
    ],
)
def test_loose_forms_do_not_stretch_to_words_or_shared_names(text: str) -> None:
    assert NameIndex(LOOSE_REGISTRY).find(text, loose=True) == []


PET_REGISTRY = [
    Person("Temperance Oyelaran"),
    Person("Isadora Threlfall"),
    Person("Lorcan Tebbutt"),
    Person("Octavia Reyes"),
    Person("Zuhura Mkwawa"),
    Person("Szeto Lok-yan"),
    Person("Vivienne Long"),
    Person("Phrik Khi Nu"),
    Person("Marisela Duarte"),
    Person("Marisol Dizon"),
    Person("Imani Achterberg"),
    Person("Fenella Crabtree"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tempie the thief", "Temperance Oyelaran"),  # the first letters with a pet ending
        ("Izzy cant sing", "Isadora Threlfall"),  # ... its second letter doubled
        ("Tebbo, check your brakes", "Lorcan Tebbutt"),  # a surname's pet name
        ("Tavia comin thru", "Octavia Reyes"),  # the last letters
        ("Zuzu najua", "Zuhura Mkwawa"),  # the first syllable doubled
        ("took you, Yanyan", "Szeto Lok-yan"),  # a short word of the name doubled
        ("Viv won't finish the tour", "Vivienne Long"),  # three letters, with their capital
        ("PKN in the mortar", "Phrik Khi Nu"),  # initials in capitals
    ],
)
def test_pet_names_and_initials_name_one_person_loosely(text: str, expected: str) -> None:
    (hit,) = NameIndex(PET_REGISTRY).find(text, loose=True)
    assert (hit.person.name, hit.certain, hit.coined) == (expected, False, True)


@pytest.mark.parametrize(
    "text",
    [
        "viv won't finish the tour",  # without its capital
        "izzy cant sing",
        "I'm a killer on the mic",  # single letters glued ("i m a") are no pet name of Imani
        "Ella, ella, eh, eh",  # a word in another language (Fenella)
        "VL and PK",  # initials of two words are what people type
        "Mari can't sing",  # the start of two people's names: it names neither
        "pkn in the mortar",  # initials not written as initials
        "easy does it, you know the score",  # common words that start or end a name
        "Tempie the thief",  # the pet name of someone outside the index (below)
    ],
)
def test_pet_names_do_not_stretch_to_words_shared_names_or_people_outside_the_index(text: str) -> None:
    index = (
        NameIndex(PET_REGISTRY[1:], among=PET_REGISTRY)
        if text == "Tempie the thief"
        else NameIndex(PET_REGISTRY)
    )
    assert index.find(text, loose=True) == []


BRANDED_REGISTRY = [Person("Key Glock"), Person("Dierks Bentley"), Person("Gucci Mane")]


@pytest.mark.parametrize(
    "text",
    ["Glock on my hip and I'm shooting on sight", "pull up in the Bentley", "Gucci belt, Gucci shoes"],
)
def test_a_weapon_drug_or_brand_in_a_name_does_not_stand_for_the_person_alone(text: str) -> None:
    assert NameIndex(BRANDED_REGISTRY).find(text, loose=True) == []


def test_a_name_with_a_brand_in_it_is_still_found_whole() -> None:
    (hit,) = NameIndex(BRANDED_REGISTRY).find("Key Glock is washed", loose=True)
    assert hit.person.name == "Key Glock"
