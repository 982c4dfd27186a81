"""The environments' data kit: dataset loading, the article presets and the offline Wikipedia corpus.

Environments import these names from here, never from the modules below.
"""

from rlm_env.data.loading import DatasetUnavailable, PresetDefaults, load_rows, reference_order
from rlm_env.data.wiki_corpus import DIST_VERSION, UNCATEGORIZED, WikiArticle, load_wiki_corpus, wiki_data_path

__all__ = [
    "DIST_VERSION",
    "UNCATEGORIZED",
    "DatasetUnavailable",
    "PresetDefaults",
    "WikiArticle",
    "load_rows",
    "load_wiki_corpus",
    "reference_order",
    "wiki_data_path",
]
