"""The web backend: Google results from the Serper API, and pages fetched over HTTP.

Both go through a disk cache, so repeated searches and pages cost one request per machine
(until the entry ages out). A rejected API key is not the model's fault, so it is raised as
SearchUnavailable, which ends the rollout with a recorded error instead of a silent zero.
"""

import functools
import json
from pathlib import Path

import httpx

from deepdive_rlm.cache import DiskCache
from deepdive_rlm.results import SearchResult
from deepdive_rlm.web import USER_AGENT, fetch, page_text, refuse_private_hosts
from rlm_env import ToolError, ToolUnavailable

SEARCH_MAX_BYTES = 2_000_000


@functools.cache
def shared_cache(path: str, max_bytes: int, max_age_s: float) -> DiskCache:
    """One cache connection per file and limits per process, shared by every rollout's tools."""
    return DiskCache(Path(path), max_bytes, max_age_s)


class SearchUnavailable(ToolUnavailable):
    """The web search cannot work at all (API key missing or rejected): the rollout ends with a ToolsetError."""


class SerperSearch:
    def __init__(self, config, api_key: str) -> None:
        self.config = config  # deepdive_rlm.tools.SearchConfig
        self.api_key = api_key
        c = config
        self.cache = (
            shared_cache(
                str(Path(c.cache_dir) / "web-cache.sqlite"), int(c.cache_max_mb * 2**20), c.cache_max_age_h * 3600
            )
            if c.cache_max_mb > 0
            else None
        )

    def _retrying(self) -> dict:
        return {"retries": self.config.retries, "backoff_s": self.config.backoff_s}

    async def search(self, query: str, limit: int) -> list[SearchResult]:
        key = f"search:{limit}:{query}"
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return [SearchResult(**r) for r in json.loads(hit)]
        headers = {"X-API-KEY": self.api_key, "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=self.config.timeout_s) as client:
            fetched = await fetch(
                client,
                "POST",
                self.config.serper_url,
                json={"q": query, "num": limit},
                headers=headers,
                max_bytes=SEARCH_MAX_BYTES,
                **self._retrying(),
            )
        if fetched.status in (401, 403):
            raise SearchUnavailable(
                f"Serper rejected the API key (HTTP {fetched.status}): check {self.config.serper_api_key_var}"
            )
        if fetched.status != 200:
            raise ToolError(f"search failed (HTTP {fetched.status}); try again or rephrase the query")
        try:
            results = parse_serper(json.loads(fetched.body))[:limit]
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, AttributeError) as error:
            raise ToolError(f"the search service sent a malformed reply ({type(error).__name__}); try again") from error
        if self.cache is not None:
            self.cache.set(key, json.dumps([r.__dict__ for r in results]))
        return results

    async def open(self, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ToolError(f"cannot open {url!r}: only http:// and https:// URLs from the search results work")
        key = f"page:{url}"
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return hit
        c = self.config
        hooks = {} if c.allow_private_urls else {"request": [refuse_private_hosts]}
        async with httpx.AsyncClient(
            timeout=c.timeout_s, follow_redirects=True, event_hooks=hooks, headers={"User-Agent": USER_AGENT}
        ) as client:
            try:
                fetched = await fetch(client, "GET", url, max_bytes=int(c.max_download_mb * 2**20), **self._retrying())
            except httpx.InvalidURL as error:
                raise ToolError(f"{url!r} is not a valid URL") from error
        if fetched.status != 200:
            raise ToolError(f"could not open {url}: HTTP {fetched.status}")
        text = page_text(url, fetched).strip() or "(the page has no readable text)"
        if self.cache is not None:
            self.cache.set(key, text)
        return text


def parse_serper(data: dict) -> list[SearchResult]:
    """Serper's answer box (when there is one) first, then the organic results in rank order."""
    results = []
    box = data.get("answerBox") or {}
    if box.get("answer") or box.get("snippet"):
        results.append(
            SearchResult(
                f"Answer box: {box.get('title', '')}".strip(),
                box.get("link", ""),
                box.get("answer") or box.get("snippet"),
            )
        )
    for item in data.get("organic") or []:
        results.append(SearchResult(item.get("title", ""), item.get("link", ""), item.get("snippet", "")))
    return results
