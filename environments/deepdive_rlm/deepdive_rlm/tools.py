"""The `search` and `open` tools and their configuration.

A task names its tools by reference, `Ref(fn="deepdive_rlm.tools:make_tools", args=...)`,
and the harness builds them at launch: for sub-LLMs in RLM mode, for the root model in
standard mode. Two backends give the same two tools:

- `serper`: Google results from the Serper API; `open` fetches the page (HTML or PDF to text).
- `local`: BM25 over the bundled Wikipedia lead sections (SQLite FTS5); `open` takes wiki:// URLs.

Page text is cut at `max_page_chars` with a visible marker. Tool use is counted from the
rollout's trace, not here (see deepdive_rlm.usage).
"""

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from deepdive_rlm.results import format_results, truncate
from deepdive_rlm.search_local import LocalSearch
from deepdive_rlm.search_serper import SearchUnavailable, SerperSearch
from rlm_env import Tool, ToolError

DESCRIPTIONS = {
    "serper": (
        "Search the web with Google. Returns up to {n} ranked results, each with a title, a URL and a snippet.",
        "Open a web page (HTML or PDF) by URL and return its text, cut at {chars:,} characters.",
    ),
    "local": (
        "Search an offline encyclopedia (the lead sections of 10,000 Wikipedia articles). Returns up to {n} "
        "ranked results, each with a title, a URL and a snippet.",
        "Open an encyclopedia page by its URL from the search results (wiki://Title) and return its text.",
    ),
}


def default_cache_dir() -> str:
    return str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rlm-env" / "deepdive")


class SearchConfig(BaseModel):
    """Which search backend the tools use, and its limits."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    backend: Literal["auto", "serper", "local"] = "auto"
    """`serper` (web search API + page fetch), `local` (offline Wikipedia index), or `auto`: serper for
    hub questions, local for offline ones."""
    max_results: int = Field(default=10, ge=1, le=100)
    """Results per search."""
    max_page_chars: int = Field(default=20_000, ge=100)
    """Characters of page text `open` returns; longer pages are cut with a marker."""
    serper_url: str = "https://google.serper.dev/search"
    """Serper search endpoint."""
    serper_api_key_var: str = "SERPER_API_KEY"
    """Environment variable holding the Serper API key."""
    timeout_s: float = Field(default=15.0, gt=0)
    """Seconds one HTTP request (search or page fetch) may take."""
    retries: int = Field(default=3, ge=0)
    """Retries of a request that timed out, could not connect, or got HTTP 429 or 5xx."""
    backoff_s: float = Field(default=1.0, ge=0)
    """First retry delay in seconds, doubled each retry (a Retry-After header takes precedence)."""
    max_download_mb: float = Field(default=10.0, gt=0)
    """Largest page body downloaded, in MiB; HTML past it is cut, PDFs past it are refused."""
    allow_private_urls: bool = False
    """Let `open` reach loopback, private and link-local addresses (off: the tools run on the training host)."""
    cache_dir: str | None = None
    """Where the web cache and the local index live; None = $XDG_CACHE_HOME/rlm-env/deepdive (~/.cache/...)."""
    cache_max_mb: float = Field(default=512.0, ge=0)
    """Size limit of the web cache in MiB (oldest entries go first); 0 turns caching off."""
    cache_max_age_h: float = Field(default=168.0, gt=0)
    """Hours a cached search or page stays valid."""


def make_tools(**args) -> list[Tool]:
    """The `search` and `open` tools for one rollout (args: SearchConfig fields, backend resolved)."""
    config = SearchConfig(**args)
    config = config.model_copy(update={"cache_dir": config.cache_dir or default_cache_dir()})
    if config.backend == "auto":
        raise ValueError("make_tools needs a concrete backend: the taskset resolves 'auto' to serper or local")
    if config.backend == "local":
        backend = LocalSearch(config.cache_dir)
    else:
        api_key = os.environ.get(config.serper_api_key_var, "")
        if not api_key:
            raise SearchUnavailable(
                f"{config.serper_api_key_var} is not set: export your Serper API key, or run "
                "offline with search.backend = 'local'"
            )
        backend = SerperSearch(config, api_key)
    search_text, open_text = DESCRIPTIONS[config.backend]

    async def search(query: str) -> str:
        if not isinstance(query, str) or not query.strip():
            raise ToolError("the query is empty: pass the words to search for")
        return format_results(query.strip(), await backend.search(query.strip(), config.max_results))

    async def open_page(url: str) -> str:
        if not isinstance(url, str) or not url.strip():
            raise ToolError("the URL is empty: pass a URL from the search results")
        return truncate(await backend.open(url.strip()), config.max_page_chars)

    def schema(name: str, description: str) -> dict:
        return {
            "type": "object",
            "properties": {name: {"type": "string", "description": description}},
            "required": [name],
        }

    return [
        Tool("search", search_text.format(n=config.max_results), schema("query", "What to search for."), search),
        Tool(
            "open",
            open_text.format(chars=config.max_page_chars),
            schema("url", "A URL from the search results."),
            open_page,
        ),
    ]
