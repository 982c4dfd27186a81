r"""Deterministic text generator for the verbatim-copy benchmark (stdlib only).

Every generator takes a ``random.Random`` and a target length ``n`` and returns
*exactly* ``n`` ASCII characters; ``json`` output always parses with
``json.loads`` and ``csv`` output always parses with the ``csv`` module into rows
of equal width.  Lengths below ``MIN_LENGTH`` (50) raise ``ValueError``.
Fragmented text (``fragment``) is spliced from slices of several independently
generated sources, so it is no longer valid JSON/CSV -- that is intended.

Worked example::

    >>> import random
    >>> gen_codes(random.Random(0), 60)  # lines of codes, padded by a base32 token
    'YN-0663-IQ\nMZ-4969-PL\n0x23a7711a81332876\nGQJTGEV6GW3\nMOPJ4FF'
    >>> s = generate_samples("words", 1, 50, 50, None, seed=0)[0]
    >>> s.id, s.content_type, s.length, s.fragmented
    ('words-0-0', 'words', 50, False)
    >>> s.text
    'Rope. Trellis granite pear rope oven saffron bird.'
    >>> # 60 chars from 6 sources; slices of 11, 9, 13, 15, 11 and (clipped) 1 chars
    >>> fragment("words", 60, 10, random.Random(0))
    'magnet log  horn fisp fable thistdove up. Clay pint or. Nap '
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import uuid
from dataclasses import dataclass

MIN_LENGTH = 50
CONTENT_TYPES = ("words", "json", "csv", "codes", "mixed")
ALL = "all"

VOCAB = tuple(
    """
a an as at be by do go he if in is it me my no of on or so to up us we
act age air arm art bag bay bed bee bin bow box cap car cat cog cow cup day den
dew dog ear egg elm eve fan fig fin fir fog fox gem gum hat hay hen hub hut ink
jam jar jet jog key kit lab lid log map mat mud nap net nut oak oar oat owl pad
pan pea pen pie pin pod pot ram rat ray rib rod rug saw sea sky sun tab tap tea
toe ton toy tub urn van vat web wig yak yam zip
able acid aunt bake bark barn bead bell bird boat bolt bone book cake calm cave
clay coal coat coin cord corn crow dawn deer desk dove drum dust echo edge fern
fish flag flax foam fork frog gate glow goat gold harp hawk herb hill horn iris
isle jade kiln kite lake lamp lark leaf lime lint loom lynx mint mist moat moss
moth nest oath opal oven pear pine plum pond pony quay quiz raft rain reed ring
road rope rose ruby rust sage sail salt sand seed silk slab snow soap sock soup
star stem tide tile toad tusk vale vase veil vine wasp wave weld wick wind wolf
yarn yawn zinc
acorn amber anvil apple attic bench berry birch blaze bloom brick brook cabin
camel cedar chalk chess cider cliff cloud clove comet coral crane crumb daisy
delta denim ember fable feast ferry field flute forge frost gauge ghost glade
grain grape gravel haven hazel heron honey inlet ivory jewel kayak knack ledge
lemon lilac linen llama lodge lotus lunar magnet mango maple marsh meadow
melon mirth noble north ocean olive onion orbit otter oyster paddle parcel
pebble pepper petal piano pixel plank prism quartz quill quiver radish raven
ribbon river robin saddle salmon shadow silver sketch spiral spruce stable
summit tangle thistle timber tinsel tunnel umbra velvet violet walnut willow
zephyr
alembic anchovy bramble cobbler compass cornice custard dolphin fissure gazebo
glacier granite harvest hickory horizon juniper kestrel lantern lattice mariner
mosaic nectar obelisk orchard pantheon pelican quarrel saffron sextant sorbet
trellis tundra vellum verdant vintage
aardvark absinthe ambulant bergamot cerulean chimeric doldrums ephemeral
filigree gossamer halcyon isthmus labyrinth lugubrious mercurial nebulous
obsidian palimpsest penumbra quixotic sardonic serendipity sycophant taciturn
tessellate verisimilitude vicissitude zeitgeist
""".split()
)
CITIES = ("Oslo", "Lima", "Quito", "Hanoi", "Perth", "Cork", "Accra", "Bergen", "Porto")
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class VerbatimSample:
    id: str
    content_type: str
    text: str
    length: int
    fragmented: bool


def _check(n: int) -> None:
    if n < MIN_LENGTH:
        raise ValueError(f"target length {n} is below the minimum of {MIN_LENGTH} characters")


def _prose(rng: random.Random, n: int, punct: bool = True) -> str:
    """Exactly ``n`` chars of words (any n >= 0); only letters/spaces unless ``punct``."""
    out, length, cap = [], 0, True
    while length < n:
        r = n - length
        if r == 1 and out:  # no room for " word": end with one character
            out.append("." if punct else "s")
            break
        sep = " " if out else ""
        w = rng.choice(VOCAB)
        if len(sep) + len(w) > r:  # "a" always fits here
            w = rng.choice([v for v in VOCAB if len(sep) + len(v) <= r])
        out.append(sep + (w.capitalize() if cap else w))
        length, cap = length + len(sep) + len(w), False
        if punct and n - length >= 3 and rng.random() < 0.12:
            mark = rng.choice(".,.")
            out.append(mark)
            length, cap = length + 1, mark == "."
    return "".join(out)


def _b32(rng: random.Random, k: int) -> str:
    return "".join(rng.choice(B32) for _ in range(k))


def _code(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if kind == 1:
        return f"0x{rng.getrandbits(64):016x}"
    if kind == 2:
        return _b32(rng, rng.randint(10, 16))
    pair = lambda: rng.choice(UPPER) + rng.choice(UPPER)  # noqa: E731
    return f"{pair()}-{rng.randrange(10000):04d}-{pair()}"


def _pack(rng, n, make_piece, filler, sep="\n", min_fill=6) -> str:
    """Join pieces with ``sep`` while they fit, then pad with ``filler(rng, k)`` to n chars."""
    parts: list[str] = []
    while len(sep.join(parts + [piece := make_piece(rng)])) <= n:
        parts.append(piece)
    room = lambda: n - len(sep.join(parts)) - (len(sep) if parts else 0)  # noqa: E731
    if parts and len(sep.join(parts)) < n and room() < min_fill:
        parts.pop()  # too little room for a filler of its own: replace the last piece
    if len(sep.join(parts)) < n:
        parts.append(filler(rng, room()))
    return sep.join(parts)


def gen_words(rng: random.Random, n: int) -> str:
    _check(n)
    return _prose(rng, n)


def _record(rng: random.Random) -> dict:
    return {
        "id": rng.randint(1, 99999),
        "name": f"{rng.choice(VOCAB).title()} {rng.choice(VOCAB).title()}",
        "score": round(rng.uniform(0, 100), 2),
        "active": rng.random() < 0.5,
        "tags": rng.sample(VOCAB, rng.randint(0, 3)),
        "history": [[rng.randint(1990, 2025), rng.randint(1, 12)] for _ in range(rng.randint(0, 2))],
    }


def gen_json(rng: random.Random, n: int) -> str:
    _check(n)
    doc = {"dataset": rng.choice(("crm", "lab", "geo", "ops")), "records": [], "note": ""}
    indent = rng.choice((None, 2)) if n >= 60 else None  # indented skeleton alone is 53 chars
    while len(json.dumps(doc | {"records": doc["records"] + [rec := _record(rng)]}, indent=indent)) <= n:
        doc["records"].append(rec)
    doc["note"] = _prose(rng, n - len(json.dumps(doc, indent=indent)))  # raw ASCII: no escaping
    return json.dumps(doc, indent=indent)


def _render_csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _csv_row(rng: random.Random) -> list[str]:
    last, first = rng.choice(VOCAB).title(), rng.choice(VOCAB).title()
    name = rng.choice((f"{first} {last}", f"{last}, {first}"))  # the comma forces quoting
    note = rng.choice(("", _prose(rng, rng.randint(5, 25)), f'said "{rng.choice(VOCAB)}"'))
    return [
        str(rng.randint(1, 9999)),
        name,
        rng.choice(CITIES),
        str(rng.randint(0, 500)),
        f"{rng.uniform(0, 999):.2f}",
        note,
    ]


def gen_csv(rng: random.Random, n: int) -> str:
    _check(n)
    rows = [["id", "name", "city", "qty", "price", "note"]]
    while len(_render_csv(rows + [row := _csv_row(rng)])) <= n:
        rows.append(row)
    if len(rows) == 1:  # not even one full row fits: use a minimal one
        rows.append([str(rng.randint(1, 9)), "", "", "0", "0", ""])
    k, note = n - len(_render_csv(rows)), rows[-1][-1]
    # pad the last field with letters/spaces only, so its quoting does not change
    rows[-1][-1] = note + " " + _prose(rng, k - 1, False) if note and k > 1 else note + _prose(rng, k, False)
    return _render_csv(rows)


def gen_codes(rng: random.Random, n: int) -> str:
    _check(n)
    return _pack(rng, n, _code, _b32)


def _mixed_piece(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return f"{_prose(rng, rng.randint(15, 45))} ref {_code(rng)}."
    if kind == 1:
        return json.dumps({"sku": _code(rng), "qty": rng.randint(0, 99), "ok": rng.random() < 0.5})
    return f"{rng.choice(VOCAB)}={rng.randint(0, 999)}; {rng.choice(VOCAB)}={_code(rng)}"


def gen_mixed(rng: random.Random, n: int) -> str:
    _check(n)
    return _pack(rng, n, _mixed_piece, _prose)


GENERATORS = {"words": gen_words, "json": gen_json, "csv": gen_csv, "codes": gen_codes, "mixed": gen_mixed}


def generate_text(content_type: str, n: int, rng: random.Random) -> str:
    if content_type not in GENERATORS:
        raise ValueError(f"unknown content type {content_type!r}; expected one of {CONTENT_TYPES}")
    return GENERATORS[content_type](rng, n)


def fragment_slices(content_type: str, n: int, mean_fragment_length: int, rng: random.Random):
    """Slices ``(source, start, stop)``, each from a freshly generated source, totalling n chars.

    Each slice length is uniform in [ceil(m/2), floor(3m/2)] (the last one is clipped to
    fit).  Sources share ``content_type``; for "mixed"/"all" each source's type is drawn
    from ``CONTENT_TYPES``.
    """
    _check(n)
    m = mean_fragment_length
    if m < 2:
        raise ValueError(f"mean_fragment_length must be >= 2, got {m}")
    slices, total = [], 0
    while total < n:
        size = min(rng.randint(math.ceil(m / 2), m * 3 // 2), n - total)
        kind = rng.choice(CONTENT_TYPES) if content_type in ("mixed", ALL) else content_type
        source = generate_text(kind, max(200, 3 * size), rng)
        start = rng.randint(0, len(source) - size)
        slices.append((source, start, start + size))
        total += size
    return slices


def fragment(content_type: str, n: int, mean_fragment_length: int, rng: random.Random) -> str:
    """Exactly n chars spliced from slices of independent sources (see ``fragment_slices``)."""
    return "".join(src[a:b] for src, a, b in fragment_slices(content_type, n, mean_fragment_length, rng))


def generate_samples(
    content_type: str,
    num_samples: int,
    min_length: int = 200,
    max_length: int = 600,
    mean_fragment_length: int | None = None,
    seed: int = 0,
) -> list[VerbatimSample]:
    """``num_samples`` samples with lengths uniform in [min_length, max_length].

    "all" gives a fixed mix: the five types cycled (counts differ by at most one), in
    an order shuffled by ``seed``.  Sample i uses its own ``random.Random`` seeded with
    a string (hashed with SHA-512, so identical across processes).
    """
    if content_type not in GENERATORS and content_type != ALL:
        raise ValueError(f"unknown content type {content_type!r}; expected one of {CONTENT_TYPES + (ALL,)}")
    _check(min_length)
    if max_length < min_length:
        raise ValueError(f"max_length {max_length} < min_length {min_length}")
    types = [content_type] * num_samples
    if content_type == ALL:
        types = [CONTENT_TYPES[i % len(CONTENT_TYPES)] for i in range(num_samples)]
        random.Random(f"verbatim-all:{seed}").shuffle(types)
    samples = []
    for i, kind in enumerate(types):
        rng = random.Random(f"verbatim:{content_type}:{seed}:{i}")
        n = rng.randint(min_length, max_length)
        if mean_fragment_length is None:
            text = generate_text(kind, n, rng)
        else:
            text = fragment(kind, n, mean_fragment_length, rng)
        samples.append(
            VerbatimSample(f"{content_type}-{seed}-{i}", kind, text, len(text), mean_fragment_length is not None)
        )
    return samples
