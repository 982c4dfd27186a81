r"""Texts shaped like the reference verbatim-copy environment's (the `article` preset; stdlib only).

The shape, from the reference's generator (see shared/REFERENCE.md), in our own code and words:

- Each sample has one content type; `all` draws words, json and csv at 0.20 each, codes at 0.25
  and mixed at 0.15 (the counts `int(n * weight)`, the rest drawn at random), then shuffles.
- Every text is exactly `target_length` characters; unset, each type has its own length
  (`DEFAULT_LENGTHS`: words 200, json 500, csv 500, codes 300, mixed 600).
- A sample starts from ONE raw text of its type, over-produced to at least twice the target:
  chunks joined by line breaks (words: 50 words from a ~60-word list; json: three records as
  `json.dumps(records, indent=2)`; csv: a header and six rows; codes: ten codes alternating
  UUID-shaped strings and `XXXX-XXXX-XXXX`; mixed: short codes, words, json and csv in turn).
- Without fragmentation the text is the raw text's first `target_length` characters, so JSON and
  CSV are cut mid-record and mostly do not parse. With `mean_fragment_length = m` it is spliced
  from slices of the same raw text, each `randint(max(1, m // 2), min(int(1.5 * m), remaining))`
  long at a random start, so slices overlap and repeat.

Worked example::

    >>> article_samples(1, "codes", 60, None, seed=0)[0].text  # a prefix of the raw text
    'f6be3877-a8e4-0bbc-4e5f-b4f487ab18f5\n9WXS-AQG4-VZG7\na2570db5'
    >>> article_samples(1, "words", 60, 20, seed=0)[0].text  # slices of one raw text
    'n fireplace anner machid skeleton galaxy walrus windle whist'
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass

CONTENT_TYPES = ("words", "json", "csv", "codes", "mixed")
ALL = "all"
MIX = {"words": 0.20, "json": 0.20, "csv": 0.20, "codes": 0.25, "mixed": 0.15}
DEFAULT_LENGTHS = {"words": 200, "json": 500, "csv": 500, "codes": 300, "mixed": 600}
OVERPRODUCE = 2  # the raw text is at least this many times the target length

WORDS = tuple(
    """
anchor bicycle cabinet compass cottage crystal dynamo emerald fireplace gallery
glacier hammock harbour horizon iceberg journey justice kettle lecture machine
meadow monsoon notebook orchard paradox pelican pyramid quarter railway reactor
saddle satchel scanner shipyard skeleton station thimble tornado trumpet tunnel
uniform vaccine vintage volcano walrus warehouse whistle windmill yoghurt zeppelin
alphabet blizzard cathedral diploma elevator festival galaxy hurricane invoice lighthouse
""".split()
)
FIRST = (
    "Ada",
    "Bruno",
    "Carmen",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lucia",
    "Marek",
    "Nadia",
    "Oscar",
    "Priya",
    "Quentin",
    "Rosa",
    "Stefan",
    "Tamsin",
    "Ulrich",
    "Vera",
    "Wendell",
    "Ximena",
    "Yusuf",
    "Zora",
)
LAST = (
    "Abbott",
    "Brennan",
    "Castillo",
    "Dunmore",
    "Eriksen",
    "Falconer",
    "Gallagher",
    "Hartley",
    "Iqbal",
    "Jankowski",
    "Kowalczyk",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Pemberton",
    "Quiroga",
    "Rasmussen",
    "Sorensen",
    "Thornbury",
    "Underwood",
    "Valdivia",
    "Whitlock",
    "Yamamoto",
    "Zielinski",
)
STREETS = (
    "Alder",
    "Birch",
    "Chestnut",
    "Dover",
    "Elm",
    "Foundry",
    "Granary",
    "Hollow",
    "Juniper",
    "Kingfisher",
    "Lantern",
    "Millbrook",
    "Northgate",
    "Orchard",
    "Quarry",
    "Riverside",
    "Saltmarsh",
    "Tanner",
)
STREET_KINDS = ("Street", "Avenue", "Road", "Lane", "Court", "Terrace", "Drive", "Crossing", "Row", "Place")
CITY_PARTS = (
    "Ash",
    "Brook",
    "Clay",
    "Dale",
    "Fair",
    "Glen",
    "Haw",
    "Kings",
    "Lake",
    "Marl",
    "Oak",
    "Red",
    "Stone",
    "Thorn",
    "West",
    "Wood",
)
CITY_ENDS = ("ford", "haven", "ton", "field", "bury", "mouth", "view", "port", "wick", "stead")
COUNTRIES = (
    "Argentina",
    "Botswana",
    "Cambodia",
    "Denmark",
    "Ecuador",
    "Finland",
    "Ghana",
    "Hungary",
    "Indonesia",
    "Jordan",
    "Kenya",
    "Lithuania",
    "Mongolia",
    "Namibia",
    "Oman",
    "Portugal",
    "Qatar",
    "Romania",
    "Senegal",
    "Tunisia",
    "Uruguay",
    "Vietnam",
    "Zambia",
)
DOMAINS = ("example.com", "example.org", "example.net", "mail.test", "post.invalid")
PRODUCTS = (
    "Amber",
    "Basin",
    "Copper",
    "Delta",
    "Ember",
    "Flint",
    "Granite",
    "Harbor",
    "Ivory",
    "Jasper",
    "Kestrel",
    "Linen",
    "Maple",
    "Nickel",
    "Onyx",
    "Pebble",
    "Quill",
    "Russet",
    "Slate",
    "Timber",
)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I look-alikes
CSV_HEADER = "id,item,price,qty,date"


@dataclass(frozen=True)
class ArticleSample:
    id: str
    content_type: str
    text: str
    target_length: int
    mean_fragment_length: int | None

    @property
    def fragmented(self) -> bool:
        return self.mean_fragment_length is not None


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choices(WORDS, k=count))


def _phone(rng: random.Random) -> str:
    digits = [str(rng.randrange(10)) for _ in range(10)]
    a, b, c = "".join(digits[:3]), "".join(digits[3:6]), "".join(digits[6:])
    return rng.choice(
        (f"({a}) {b}-{c}", f"{a}.{b}.{c}", f"+1-{a}-{b}-{c}", f"{a}{b}{c}", f"{a}-{b}-{c}x{rng.randint(100, 9999)}")
    )


def _email(rng: random.Random, first: str, last: str) -> str:
    user = f"{rng.choice((first[0], first)).lower()}{last.lower()}{rng.choice(('', str(rng.randint(1, 99))))}"
    return f"{user}@{rng.choice(DOMAINS)}"


def _city(rng: random.Random) -> str:
    return f"{rng.choice(('', 'North ', 'South ', 'New ', 'Port '))}{rng.choice(CITY_PARTS)}{rng.choice(CITY_ENDS)}"


def _record(rng: random.Random) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "id": rng.randint(10000, 99999),
        "name": f"{first} {last}",
        "email": _email(rng, first, last),
        "phone": _phone(rng),
        "address": f"{rng.randint(1, 99999)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}",
        "city": _city(rng),
        "country": rng.choice(COUNTRIES),
    }


def _json(rng: random.Random, records: int) -> str:
    return json.dumps([_record(rng) for _ in range(records)], indent=2)


def _csv(rng: random.Random, rows: int) -> str:
    lines = [CSV_HEADER]
    for _ in range(rows):
        date = f"{rng.randint(1970, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        lines.append(
            f"{rng.randint(1000, 9999)},{rng.choice(PRODUCTS)} {rng.choice(PRODUCTS)},"
            f"{rng.randint(10, 999)}.{rng.randint(0, 99):02d},{rng.randint(1, 100)},{date}"
        )
    return "\n".join(lines)


def _short_code(rng: random.Random) -> str:
    return "-".join("".join(rng.choices(CODE_ALPHABET, k=4)) for _ in range(3))


def _codes(rng: random.Random, count: int, short_only: bool = False) -> str:
    codes = [
        _short_code(rng) if short_only or i % 2 else str(uuid.UUID(int=rng.getrandbits(128))) for i in range(count)
    ]
    return "\n".join(codes)


def _chunk(content_type: str, rng: random.Random, index: int) -> str:
    if content_type == "words":
        return _words(rng, 50)
    if content_type == "json":
        return _json(rng, 3)
    if content_type == "csv":
        return _csv(rng, 6)
    if content_type == "codes":
        return _codes(rng, 10)
    # mixed: the four kinds in turn, each a smaller chunk
    return (
        lambda: _codes(rng, 5, short_only=True),
        lambda: _words(rng, 20),
        lambda: _json(rng, 2),
        lambda: _csv(rng, 4),
    )[index % 4]()


def raw_text(content_type: str, target_length: int, rng: random.Random) -> str:
    """Chunks of `content_type` joined by line breaks, at least OVERPRODUCE x `target_length` long."""
    chunks: list[str] = []
    while sum(map(len, chunks)) < OVERPRODUCE * target_length:
        chunks.append(_chunk(content_type, rng, len(chunks)))
    return "\n".join(chunks)


def fragment(raw: str, target_length: int, mean_fragment_length: int, rng: random.Random) -> str:
    """`target_length` characters spliced from random slices of the one text `raw`."""
    m, parts, length = mean_fragment_length, [], 0
    while length < target_length:
        remaining = target_length - length
        high = min(int(1.5 * m), remaining)
        size = rng.randint(min(max(1, m // 2), high), high)
        start = rng.randint(0, len(raw) - size)
        parts.append(raw[start : start + size])
        length += size
    return "".join(parts)


def content_types(content_type: str, num_samples: int, rng: random.Random) -> list[str]:
    """One type per sample: `content_type` for all, or the `all` mix (weighted counts, shuffled)."""
    if content_type != ALL:
        return [content_type] * num_samples
    kinds = [kind for kind, weight in MIX.items() for _ in range(int(num_samples * weight))]
    kinds += rng.choices(list(MIX), k=num_samples - len(kinds))
    rng.shuffle(kinds)
    return kinds


def article_samples(
    num_samples: int,
    content_type: str = ALL,
    target_length: int | None = None,
    mean_fragment_length: int | None = None,
    seed: int = 42,
) -> list[ArticleSample]:
    """`num_samples` samples in generation order; the same arguments always give the same texts
    (each sample has its own string-seeded generator, identical across processes)."""
    if content_type not in CONTENT_TYPES and content_type != ALL:
        raise ValueError(f"unknown content type {content_type!r}; expected one of {CONTENT_TYPES + (ALL,)}")
    if target_length is not None and target_length < 1:
        raise ValueError(f"target_length must be at least 1, got {target_length}")
    if mean_fragment_length is not None and mean_fragment_length < 1:
        raise ValueError(f"mean_fragment_length must be at least 1, got {mean_fragment_length}")
    samples = []
    for i, kind in enumerate(content_types(content_type, num_samples, random.Random(f"article-mix:{seed}"))):
        length = target_length or DEFAULT_LENGTHS[kind]
        if mean_fragment_length is not None and mean_fragment_length > length:
            raise ValueError(
                f"mean_fragment_length {mean_fragment_length} is longer than the {kind} texts "
                f"({length} characters): lower it or raise target_length"
            )
        rng = random.Random(f"article:{content_type}:{seed}:{i}")
        raw = raw_text(kind, length, rng)
        text = raw[:length] if mean_fragment_length is None else fragment(raw, length, mean_fragment_length, rng)
        samples.append(ArticleSample(f"article-{content_type}-{seed}-{i}", kind, text, length, mean_fragment_length))
    return samples
