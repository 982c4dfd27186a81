"""deepdive-rlm tools: the serper backend against a loopback fake of the search API and of web
pages, the local backend's ranking on the offline corpus, and the disk cache."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deepdive_rlm.cache import DiskCache
from deepdive_rlm.search_serper import SearchUnavailable
from deepdive_rlm.tools import SearchConfig, make_tools
from rlm_env import ToolError
from rlm_env.core.tools import run_tool_call

SERPER_REPLY = {
    "answerBox": {
        "title": "Lastovo",
        "answer": "Lagosta is the Italian name of Lastovo.",
        "link": "https://a.test/box",
    },
    "organic": [
        {
            "title": "Lastovo - Wikipedia",
            "link": "https://en.wikipedia.org/wiki/Lastovo",
            "snippet": "Lastovo is an\n island.",
            "position": 1,
        },
        {
            "title": "Italian islands",
            "link": "https://b.test/islands",
            "snippet": "Lagosta was Italian from 1920.",
            "position": 2,
        },
    ],
}
HTML = b"""<html><head><title>Lastovo island</title><style>p {color: red}</style><script>var x = 1;</script></head>
<body><nav>Home | About</nav><h1>Lastovo</h1><p>Lastovo (Italian: <b>Lagosta</b>) is an island<br>in Croatia.</p>
<ul><li>Area: 46 km2</li><li>Population: 792</li></ul><footer>Copyright</footer></body></html>"""


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF with one line of Helvetica text, written by hand (no PDF library needed)."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


class FakeWeb:
    """Loopback HTTP server: each path answers from a list of (status, content type, body[, delay, headers]);
    the last reply repeats. `hits[path]` counts requests; `bodies[path]` keeps request bodies."""

    def __init__(self, routes: dict[str, list[tuple]]) -> None:
        self.routes, self.hits, self.bodies = routes, {}, {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self.answer(b"")

            def do_POST(self) -> None:
                self.answer(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def answer(self, body: bytes) -> None:
                n = fake.hits.get(self.path, 0)
                fake.hits[self.path] = n + 1
                fake.bodies.setdefault(self.path, []).append((dict(self.headers), body))
                replies = fake.routes.get(self.path, [(404, "text/plain", b"not found")])
                status, content_type, payload, *rest = replies[min(n, len(replies) - 1)]
                delay, headers = (rest + [0, {}])[:2] if rest else (0, {})
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> "FakeWeb":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def serper_tools(web: FakeWeb, tmp_path, monkeypatch, **overrides):
    monkeypatch.setenv("FAKE_SERPER_KEY", "serper-secret")
    config = SearchConfig(
        **{
            "backend": "serper",
            "serper_url": web.url("/search"),
            "serper_api_key_var": "FAKE_SERPER_KEY",
            "timeout_s": 0.5,
            "retries": 2,
            "backoff_s": 0.01,
            "allow_private_urls": True,
            "cache_dir": str(tmp_path),
            **overrides,
        }
    )
    search, open_page = make_tools(**config.model_dump())
    return (lambda query: asyncio.run(search.fn(query))), (lambda url: asyncio.run(open_page.fn(url)))


def json_reply(data: dict, status: int = 200) -> tuple:
    return status, "application/json", json.dumps(data).encode()


def test_search_formats_ranked_results_and_sends_the_key(tmp_path, monkeypatch):
    with FakeWeb({"/search": [json_reply(SERPER_REPLY)]}) as web:
        search, _ = serper_tools(web, tmp_path, monkeypatch, max_results=5)
        text = search("  Lagosta island Italy  ")
    headers, body = web.bodies["/search"][0]
    assert headers["X-API-KEY"] == "serper-secret" and json.loads(body) == {"q": "Lagosta island Italy", "num": 5}
    assert text == (
        "Results for 'Lagosta island Italy':\n\n"
        "1. Answer box: Lastovo\n   URL: https://a.test/box\n   Lagosta is the Italian name of Lastovo.\n\n"
        "2. Lastovo - Wikipedia\n   URL: https://en.wikipedia.org/wiki/Lastovo\n   Lastovo is an island.\n\n"
        "3. Italian islands\n   URL: https://b.test/islands\n   Lagosta was Italian from 1920."
    )


def test_search_retries_429_then_succeeds_and_caches(tmp_path, monkeypatch):
    replies = [
        (429, "application/json", b"{}", 0, {"Retry-After": "0"}),
        (503, "text/plain", b"busy"),
        json_reply(SERPER_REPLY),
    ]
    with FakeWeb({"/search": replies}) as web:
        search, _ = serper_tools(web, tmp_path, monkeypatch)
        first = search("Lagosta")
        assert web.hits["/search"] == 3
        assert search("Lagosta") == first and web.hits["/search"] == 3  # a cache hit: no new request
        search("Lastovo")
        assert web.hits["/search"] == 4
        # a new tools object (another rollout) shares the disk cache
        search_again, _ = serper_tools(web, tmp_path, monkeypatch)
        assert search_again("Lagosta") == first and web.hits["/search"] == 4


def test_search_errors_the_model_sees_and_the_ones_it_does_not(tmp_path, monkeypatch):
    with FakeWeb({"/search": [(500, "text/plain", b"down")]}) as web:
        search, _ = serper_tools(web, tmp_path, monkeypatch)
        with pytest.raises(ToolError, match=r"search failed \(HTTP 500\)"):
            search("anything")
        assert web.hits["/search"] == 3  # 1 + 2 retries
        with pytest.raises(ToolError, match="empty"):
            search("   ")
    with FakeWeb({"/search": [(403, "application/json", b'{"message": "Unauthorized"}')]}) as web:
        search, _ = serper_tools(web, tmp_path, monkeypatch)
        with pytest.raises(SearchUnavailable, match="FAKE_SERPER_KEY"):
            search("anything")
    monkeypatch.delenv("MISSING_SERPER_KEY", raising=False)
    with pytest.raises(SearchUnavailable, match="MISSING_SERPER_KEY is not set"):
        make_tools(**SearchConfig(backend="serper", serper_api_key_var="MISSING_SERPER_KEY").model_dump())


def test_timeouts_are_retried_then_reported(tmp_path, monkeypatch):
    slow = [(200, "application/json", json.dumps(SERPER_REPLY).encode(), 1.5)]
    with FakeWeb({"/search": slow, "/slow": [(200, "text/html", HTML, 1.5)]}) as web:
        search, _ = serper_tools(web, tmp_path, monkeypatch, timeout_s=0.2, retries=1)
        started = time.monotonic()
        with pytest.raises(ToolError, match="did not answer in time"):
            search("slow")
        assert web.hits["/search"] == 2 and time.monotonic() - started < 1.5
        # what the model sees: the error as the tool's output
        open_tool = make_tools(
            **SearchConfig(
                backend="serper",
                serper_api_key_var="FAKE_SERPER_KEY",
                timeout_s=0.2,
                retries=0,
                allow_private_urls=True,
                cache_dir=str(tmp_path),
            ).model_dump()
        )[1]
        call = {"function": {"name": "open", "arguments": json.dumps({"url": web.url("/slow")})}}
        outcome = asyncio.run(run_tool_call({"open": open_tool}, call))
        assert not outcome.ok and outcome.text.startswith("Error: ") and "did not answer in time" in outcome.text


def test_open_html_pdf_and_plain_text(tmp_path, monkeypatch):
    routes = {
        "/page.html": [(200, "text/html; charset=utf-8", HTML)],
        "/paper": [(200, "application/pdf", tiny_pdf("Lagosta was annexed in 1920."))],
        "/notes.txt": [(200, "text/plain; charset=latin-1", "Café notes".encode("latin-1"))],
        "/image.png": [(200, "image/png", b"\x89PNG...")],
    }
    with FakeWeb(routes) as web:
        _, open_page = serper_tools(web, tmp_path, monkeypatch)
        assert open_page(web.url("/page.html")) == (
            "Lastovo island\n\nLastovo\nLastovo (Italian: Lagosta) is an island\nin Croatia.\n"
            "Area: 46 km2\nPopulation: 792"
        )
        assert open_page(web.url("/paper")) == "Lagosta was annexed in 1920."
        assert open_page(web.url("/notes.txt")) == "Café notes"
        with pytest.raises(ToolError, match="cannot read image/png"):
            open_page(web.url("/image.png"))
        with pytest.raises(ToolError, match="HTTP 404"):
            open_page(web.url("/missing"))
        with pytest.raises(ToolError, match="only http"):
            open_page("ftp://example.com/file")


def test_open_truncates_long_pages_and_caches_them(tmp_path, monkeypatch):
    long_page = b"<html><body><p>" + b"word " * 10_000 + b"</p></body></html>"
    with FakeWeb({"/long": [(200, "text/html", long_page)]}) as web:
        _, open_page = serper_tools(web, tmp_path, monkeypatch, max_page_chars=1000)
        text = open_page(web.url("/long"))
        assert text.startswith("word word") and len(text) < 1100
        assert text.endswith("[page truncated: showing 1,000 of 49,999 characters]")
        assert open_page(web.url("/long")) == text and web.hits["/long"] == 1


def test_open_refuses_private_addresses_by_default(tmp_path, monkeypatch):
    with FakeWeb({"/page.html": [(200, "text/html", HTML)]}) as web:
        _, open_page = serper_tools(web, tmp_path, monkeypatch, allow_private_urls=False)
        with pytest.raises(ToolError, match="not a public address"):
            open_page(web.url("/page.html"))
        assert web.hits == {}


def test_disk_cache_limits_size_and_age(tmp_path):
    cache = DiskCache(tmp_path / "c.sqlite", max_bytes=25, max_age_s=3600)
    cache.set("a", "x" * 10)
    cache.set("b", "y" * 10)
    cache.set("c", "z" * 10)  # 30 bytes > 25: the oldest entry goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, "y" * 10, "z" * 10)
    cache.set("huge", "h" * 100)  # larger than the whole cache: not stored, nothing evicted
    assert cache.get("huge") is None and cache.get("b") == "y" * 10
    stale = DiskCache(tmp_path / "c.sqlite", max_bytes=25, max_age_s=0.05)
    time.sleep(0.1)
    assert stale.get("b") is None


LOCAL_TOP = [
    ("theory of relativity physicist", "Albert Einstein"),
    ("printing press inventor Mainz", "Johannes Gutenberg"),
    ("Tanzania dormant volcano highest mountain in Africa", "Mount Kilimanjaro"),
    ("1755 earthquake Lisbon", "1755 Lisbon earthquake"),
    ("pigment that plants use to absorb light", "Chlorophyll"),
]


@pytest.fixture(scope="module")
def local_tools(tmp_path_factory):
    cache_dir = str(tmp_path_factory.mktemp("deepdive-index"))
    return make_tools(**SearchConfig(backend="local", cache_dir=cache_dir, max_results=5).model_dump())


@pytest.mark.parametrize("query, title", LOCAL_TOP)
def test_local_search_ranks_the_right_article_first(local_tools, query, title):
    text = asyncio.run(local_tools[0].fn(query))
    assert text.split("\n\n")[1].startswith(f"1. {title}\n   URL: wiki://{title.replace(' ', '_')}\n")
    assert text.count("URL: wiki://") == 5


def test_local_open_accepts_wiki_urls_and_titles(local_tools):
    open_page = local_tools[1].fn
    page = asyncio.run(open_page("wiki://Albert_Einstein"))
    assert page.startswith("Albert Einstein\nwiki://Albert_Einstein\n\nAlbert Einstein was a German-born")
    assert asyncio.run(open_page("https://en.wikipedia.org/wiki/Albert_Einstein")) == page
    assert asyncio.run(open_page("albert einstein")) == page
    with pytest.raises(ToolError, match="no page at 'wiki://Nowhere_Land'"):
        asyncio.run(open_page("wiki://Nowhere_Land"))


def test_local_search_treats_query_syntax_as_words(local_tools):
    text = asyncio.run(local_tools[0].fn('NOT "Einstein" AND relativity* NEAR(x'))
    assert "1. Albert Einstein" in text
    with pytest.raises(ToolError, match="no words"):
        asyncio.run(local_tools[0].fn("?!"))
