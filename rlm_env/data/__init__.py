"""The environments' data kit: dataset loading, the data-source config and row selection, presets, the offline
Wikipedia corpus.

Environments import these names from here, never from the modules below.
"""

from rlm_env.data.loading import DatasetUnavailable, PresetDefaults, load_rows, reference_order
from rlm_env.data.source import DataSourceConfig, select_rows
from rlm_env.data.wiki_corpus import DIST_VERSION, UNCATEGORIZED, WikiArticle, load_wiki_corpus, wiki_data_path

# grouped by the module each name comes from
__all__ = ["DatasetUnavailable", "PresetDefaults", "load_rows", "reference_order", "DataSourceConfig", "select_rows"]
__all__ += ["DIST_VERSION", "UNCATEGORIZED", "WikiArticle", "load_wiki_corpus", "wiki_data_path"]
