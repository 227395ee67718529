"""The labelled texts of the harassment and name checks (corpus/harassment/), and their split.

Each author file (`lines_<author>.jsonl`) was written by a separate writer who saw neither the
detector's rules nor the other files, with a registry of people of its own
(`people_<author>.json`) and registers of its own: a, drill, battle rap and memes; b, pop,
country, comedy and fan mail; c, hip-hop, metal, punk and news; d, stan culture, R&B and prompts
typed by non-native speakers; e, afrobeats, Latin, dancehall in pidgin and Spanglish; f, EDM, emo,
gamer chat and comment sections; g, gospel, jazz, musical theatre, TikTok and older fans on
Facebook; h, grime, football chants, rock forums and Reddit; i, idol fandom, anime, Twitch and
Discord; j, Bollywood in Hinglish, Arabic-English, soca and gossip sites; k, K-pop and J-pop
stans, Brazilian funk, fan wars on X; l, horrorcore, trap and battle rap (extreme imagery with no
real target, and threats dressed as horror); m, folk, classical, podcasts and letters; n, pop
gossip, YouTube, X threads and Reddit; o, Irish and Australian slang, pub rock; p, hyperpop,
SoundCloud rap, brainrot slang; q, Europop and English by German, French, Italian, Polish and
Dutch speakers; r, Latin trap, corridos, dembow, Taglish; s, English by Eastern-European
speakers, metalcore, synthwave, Telegram posts and all-caps Facebook; t, Desi hip-hop, bhangra,
Tamil kuthu, cricket banter and WhatsApp forwards; u, Memphis, Houston and Atlanta rap, Gen-Alpha
TikTok and Roblox uploads, sports radio and Christian rap; v, veiled and indirect menace
(passive-aggressive, mock-legal, euphemism), fan letters, folk and indie criticism; w, gig
listings, promoters' e-mails, venue newsletters, ticket and merch drops, tour posters, live
reviews, local radio, soundsystem clashes, brass bands, cabaret and wedding singers (harmless
lines about named people and their shows, with "tonight", venues, dates and violent slang for
praise, and threats and abuse in the same voice); x, what people type into AI music generators
(style tags, "make a song where...", diss and roast requests), the titles and descriptions they give
the results, comment sections under AI covers, country, dancehall, barbershop and talent shows;
y, plain-spoken adults with little slang and few insult words (ex-bandmates, unpaid session
players, a former manager, fans who turned), americana, blues, spoken word, forum posts and
e-mails, with murder ballads, true crime and news in which the named person is the victim as hard
negatives; z, South and East African English (amapiano, gqom, kwaito, gengetone, bongo flava, Sheng
and Tsotsitaal, WhatsApp groups, radio call-ins, a few lines in isiZulu, Swahili and Setswana); za,
teenagers online (fanfic summaries, Discord role-play, pop-punk and bedroom pop, lower-case group
chats) and parents on neighbourhood apps; zb, the music business and older musicians (A&R e-mails,
contract and royalty disputes, lawyers' letters, session players, opera, choirs, brass and wedding
bands; calm, formal menace); zc, Caribbean and Black British English (roots reggae, dub, lovers rock,
bashment, UK garage, jungle and drum & bass MCs, pirate radio, reaction videos; more titles, many
with only a nickname); zd, obsessive fans whose devotion turns menacing, bitter ex-fans and
resentment aimed at women artists, conspiracy commenters, nu-metal, emo rap and industrial (calm,
second-person, conditional threats with no weapon words); ze, East and South-East Asian pop and its
diaspora (Mandopop, Cantopop, idol survival shows, V-pop, luk thung, OPM; livestream comments, KTV,
fan translation accounts, prompts in English as a second language). Written since and not yet
trained on (NOT_YET_TRAINED_AUTHORS): zf, violence told rather than
threatened (song premises typed into AI generators, concept albums, horror and murder ballads,
fan-fiction summaries, dream diaries, meme and fake-news titles; Welsh, Gaelic and Portuguese
names), with the same framings about fictional people as hard negatives; zg, understatement, irony
and code (indie, shoegaze, R&B, Bandcamp and Instagram, English by Nordic, Dutch, Baltic and
Hungarian speakers; "drive safe 🙂", emoji doing the work, dry humiliation); zi and zj, what sounds
like a threat and is not, written beside what is, mostly as pairs on one idea (gig and tour
logistics, fans condemning threats others made, murder ballads and ghost stories about fictional
people, praise and love in words of violence and crime, harsh critique; zi with Greek, Turkish,
Armenian, Georgian and Persian names, zj with Indonesian, Malay, Thai and Japanese ones, some lines
in those languages), briefed from the kinds of harmless lines the classifier took for threats out
of fold on the other training writers, never from the test writers' lines. The split
is by author: the test part shares no writer, no template and no target name with the training
part.
`bench/harassment/labelled.jsonl`, the first set written beside the rules, is training material
only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

HERE = Path(__file__).with_name("harassment")
SEED = Path(__file__).parent.parent / "bench" / "harassment" / "labelled.jsonl"
SEED_PEOPLE = ("Taylor Swift", "Drake", "Billie Eilish", "Kanye West", "Ed Sheeran", "Nova Reyes")
TRAIN_AUTHORS = ("seed", *"abefghijklmnopqrstuvwxy", "z", "za", "zb", "zc", "zd", "ze")
# written, and trained on in trials (threat recall up, two-line mixes flagged as threats more than
# the limit set beforehand: README, Decisions); not yet what the shipped classifier learns from
NOT_YET_TRAINED_AUTHORS = ("zf", "zg", "zi", "zj")
TEST_AUTHORS = ("c", "d")

Label = Literal["threat", "abuse", "name_request", "none"]
Field = Literal["lyrics", "title", "prompt", "description"]


@dataclass(frozen=True)
class Line:
    text: str
    field: Field
    label: Label
    kind: str
    person: str | None
    style: str
    group: str
    author: str
    target: str | None = None  # the words that name the person, as the writer wrote them


def lines(authors: tuple[str, ...]) -> list[Line]:
    found: list[Line] = []
    for author in authors:
        if author == "seed":
            found += [_seed_line(json.loads(raw)) for raw in SEED.read_text().splitlines() if raw.strip()]
            continue
        for raw in (HERE / f"lines_{author}.jsonl").read_text().splitlines():
            if raw.strip():
                row = json.loads(raw)
                found.append(
                    Line(
                        text=row["text"],
                        field=row["field"],
                        label=row["label"],
                        kind=row.get("kind") or row["label"],
                        person=row.get("person"),
                        style=row.get("style") or "",
                        group=row["group"],
                        author=author,
                        target=row.get("target"),
                    )
                )
    return found


def _seed_line(row: dict[str, str]) -> Line:
    label = row["label"]
    return Line(row["text"], "lyrics", label, label, None, "", f"seed-{row['group']}", "seed")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Registered:
    name: str
    opted_out: bool


def people(authors: tuple[str, ...]) -> list[Registered]:
    """The registry the authors wrote about: names alone (the short forms and spellings the
    authors used are for the name finder to work out)."""
    found: list[Registered] = []
    for author in authors:
        if author == "seed":
            found += [Registered(name, False) for name in SEED_PEOPLE]
            continue
        for row in json.loads((HERE / f"people_{author}.json").read_text()):
            found.append(Registered(row["name"], bool(row.get("opted_out"))))
    return found
