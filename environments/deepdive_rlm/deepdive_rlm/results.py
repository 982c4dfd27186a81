"""What both search backends return, and how tool output is shown to the model."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str


def format_results(query: str, results: list[SearchResult]) -> str:
    """Ranked results, one block each: title, URL, snippet."""
    if not results:
        return f"No results for {query!r}. Try other words."
    blocks = [
        f"{rank}. {r.title}\n   URL: {r.url}\n   {' '.join(r.snippet.split())}"
        for rank, r in enumerate(results, start=1)
    ]
    return f"Results for {query!r}:\n\n" + "\n\n".join(blocks)


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n\n[page truncated: showing {limit:,} of {len(text):,} characters]"
