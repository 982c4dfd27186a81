"""The offline search backend: BM25 over the bundled Wikipedia lead sections with SQLite FTS5.

The index (10,033 articles, ~13 MB) is built once per machine, into the cache directory, and
reused by every process after. Pages are addressed as `wiki://Title_With_Underscores`; `open`
also accepts the bare title and en.wikipedia.org/wiki/ URLs, which models like to write.
"""

import functools
import os
import re
import sqlite3
import uuid
from pathlib import Path
from urllib.parse import unquote

from deepdive_rlm.results import SearchResult
from rlm_env import ToolError
from rlm_env.data import DIST_VERSION, load_wiki_corpus, wiki_data_path

INDEX_VERSION = 1
"""Bump when the schema or tokenizer changes, so stale indexes are rebuilt."""
URL_PREFIX = "wiki://"
_WIKIPEDIA = re.compile(r"^https?://[a-z]+\.(?:m\.)?wikipedia\.org/wiki/")
_TERM = re.compile(r"\w+")
TITLE_WEIGHT = 4.0  # a query word in the title counts like four in the text
# Words in nearly every article: they barely change BM25 scores but make an OR-query score every
# row (dropping them makes a sentence-long query about 4x faster).
STOPWORDS = frozenset(
    "a an and are as at be been but by for from had has have he her his in into is it its of on or she that the "
    "their them they this to was were which who with".split()
)


def page_url(title: str) -> str:
    return URL_PREFIX + title.replace(" ", "_")


def index_path(cache_dir: Path) -> Path:
    """One file per index version and corpus version, so upgrades never read an old index."""
    size = wiki_data_path().stat().st_size
    return cache_dir / f"wiki-fts5-v{INDEX_VERSION}-{DIST_VERSION}-{size}.sqlite"


def build_index(path: Path) -> None:
    """Write the index to a temporary file, then rename: readers never see half an index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    db = sqlite3.connect(tmp)
    try:
        db.executescript("""
            CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, topic TEXT, text TEXT);
            CREATE INDEX docs_title_nocase ON docs (title COLLATE NOCASE);
            CREATE VIRTUAL TABLE docs_fts USING fts5(title, text, content='docs', content_rowid='id',
                                                     tokenize='porter unicode61 remove_diacritics 2');
        """)
        db.executemany(
            "INSERT INTO docs VALUES (?, ?, ?, ?)", ((a.id, a.title, a.topic, a.text) for a in load_wiki_corpus())
        )
        db.execute("INSERT INTO docs_fts (rowid, title, text) SELECT id, title, text FROM docs")
        db.execute("INSERT INTO docs_fts (docs_fts, rank) VALUES ('rank', ?)", (f"bm25({TITLE_WEIGHT}, 1.0)",))
        db.execute("INSERT INTO docs_fts (docs_fts) VALUES ('optimize')")
        db.commit()
    finally:
        db.close()
    os.replace(tmp, path)


@functools.cache
def open_index(cache_dir: str) -> sqlite3.Connection:
    """The index of this machine, built on first use; one read-only connection per process."""
    path = index_path(Path(cache_dir))
    if not path.exists():
        build_index(path)
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def match_expression(query: str) -> str | None:
    """The query's words as an FTS5 OR-query; quoting keeps FTS5 syntax (NEAR, AND, '-') inert."""
    words = _TERM.findall(query.lower())
    terms = dict.fromkeys(w for w in words if w not in STOPWORDS) or dict.fromkeys(words)
    return " OR ".join(f'"{term}"' for term in terms) or None


class LocalSearch:
    def __init__(self, cache_dir: str) -> None:
        self.db = open_index(cache_dir)

    async def search(self, query: str, limit: int) -> list[SearchResult]:
        expression = match_expression(query)
        if expression is None:
            raise ToolError(f"the query {query!r} has no words to search for")
        rows = self.db.execute(
            "SELECT d.title, snippet(docs_fts, 1, '', '', ' … ', 32) "
            "FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid "
            "WHERE docs_fts MATCH ? ORDER BY rank LIMIT ?",
            (expression, limit),
        ).fetchall()
        return [SearchResult(title, page_url(title), snippet) for title, snippet in rows]

    async def open(self, url: str) -> str:
        title = unquote(_WIKIPEDIA.sub("", url.removeprefix(URL_PREFIX))).replace("_", " ").strip()
        row = (
            self.db.execute("SELECT title, text FROM docs WHERE title = ?", (title,)).fetchone()
            or self.db.execute("SELECT title, text FROM docs WHERE title = ? COLLATE NOCASE", (title,)).fetchone()
        )
        if row is None:
            raise ToolError(
                f"no page at {url!r}: open a URL from the search results (they look like {page_url('Albert Einstein')})"
            )
        title, text = row
        return f"{title}\n{page_url(title)}\n\n{text}"
