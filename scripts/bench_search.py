"""Benchmark the offline search backend of deepdive-rlm on the full bundled corpus (10,033 articles).

    uv run --no-sync python scripts/bench_search.py             # 300 queries
    uv run --no-sync python scripts/bench_search.py -n 1000

Prints the time to build the SQLite FTS5 index from scratch, the latency of `search` (p50/p90,
through the tool's own code path), and the same for a baseline measured in the same run: a naive
scan that scores every article by how many query words occur in it as substrings (the corpus
already lower-cased, so only the scan is timed). The queries are the quoted sentences of offline
questions (subject blanked out), so the script also reports how often each method ranks the
question's source article first and in the top 10.
"""

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from deepdive_rlm.offline import KINDS, offline_questions
from deepdive_rlm.search_local import LocalSearch, build_index, index_path, page_url
from rlm_env.data.wiki_corpus import load_wiki_corpus

TOP_K = 10


def queries(n: int) -> list[tuple[str, str]]:
    """(query, url of the source article) from offline questions of both splits."""
    pairs = []
    for split in ("train", "eval"):
        for q in offline_questions(split, 0.1, 42, KINDS, 0, n):
            sentence = q.question.split("\n\n")[1].strip('"')
            pairs.append((re.sub(r"\[(SUBJECT|YEAR|X)\]", " ", sentence), q.evidence[0]))
    return pairs[:n]


def naive_search(docs: list[tuple[str, str]], query: str, k: int) -> list[str]:
    """Baseline: count query words found in each article (substring test), highest counts first."""
    words = set(re.findall(r"\w+", query.lower()))
    scored = [(sum(word in text for word in words), url) for url, text in docs]
    return [url for score, url in sorted(scored, key=lambda s: -s[0])[:k] if score > 0]


def percentiles(seconds: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(seconds, n=10)
    return statistics.median(seconds) * 1000, cuts[8] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="number of queries (default: 300)")
    args = parser.parse_args()
    corpus = load_wiki_corpus()
    pairs = queries(args.n)

    with tempfile.TemporaryDirectory() as cache_dir:
        started = time.perf_counter()
        build_index(index_path(Path(cache_dir)))
        build_s = time.perf_counter() - started
        size_mb = index_path(Path(cache_dir)).stat().st_size / 2**20
        search = LocalSearch(cache_dir)
        fts_times, fts_ranks = [], []
        for query, _ in pairs:
            started = time.perf_counter()
            results = _run(search.search(query, TOP_K))
            fts_times.append(time.perf_counter() - started)
            fts_ranks.append([r.url for r in results])

    docs = [(page_url(a.title), f"{a.title}\n{a.text}".lower()) for a in corpus]
    naive_times, naive_ranks = [], []
    for query, _ in pairs:
        started = time.perf_counter()
        naive_ranks.append(naive_search(docs, query, TOP_K))
        naive_times.append(time.perf_counter() - started)

    def hits(ranks: list[list[str]], k: int) -> float:
        return sum(url in found[:k] for (_, url), found in zip(pairs, ranks, strict=True)) / len(pairs)

    fts_p50, fts_p90 = percentiles(fts_times)
    naive_p50, naive_p90 = percentiles(naive_times)
    print(f"corpus: {len(corpus):,} articles; {len(pairs)} queries (quoted sentences of offline questions)")
    print(f"index build (SQLite FTS5, from scratch): {build_s:.2f} s, {size_mb:.1f} MiB on disk")
    print(f"{'method':<22} {'p50 ms':>8} {'p90 ms':>8} {'top-1':>7} {'top-10':>7}")
    print(
        f"{'fts5 bm25 (search)':<22} {fts_p50:8.2f} {fts_p90:8.2f} {hits(fts_ranks, 1):7.1%} {hits(fts_ranks, 10):7.1%}"
    )
    print(
        f"{'naive substring scan':<22} {naive_p50:8.2f} {naive_p90:8.2f} {hits(naive_ranks, 1):7.1%} "
        f"{hits(naive_ranks, 10):7.1%}"
    )
    print(f"speed-up of fts5 over the scan: {naive_p50 / fts_p50:.0f}x at p50, {naive_p90 / fts_p90:.0f}x at p90")
    return 0


_LOOP = asyncio.new_event_loop()


def _run(coroutine):
    """Run one search on a loop kept open, so loop start-up is not timed."""
    return _LOOP.run_until_complete(coroutine)


if __name__ == "__main__":
    sys.exit(main())
