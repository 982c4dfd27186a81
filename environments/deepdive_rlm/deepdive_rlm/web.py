"""HTTP for the web backend: retries with backoff, a download cap, and page text from HTML or PDF.

Every failure a model can cause or must live with (page gone, site down, timeout, a format we
cannot read) becomes a ToolError, which the model sees as the tool's output.

`open` runs on the training host, so by default it refuses URLs whose host resolves to a
loopback, private, link-local or reserved address (each redirect hop is checked): a model
must not reach the host's own services through it. Tests allow them to use loopback fakes.
"""

import asyncio
import io
import ipaddress
import socket
from dataclasses import dataclass

import httpx
import pypdf
from bs4 import BeautifulSoup

from rlm_env import ToolError

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_WAIT_S = 30.0  # cap on one backoff sleep, whatever Retry-After says
USER_AGENT = "Mozilla/5.0 (compatible; rlm-env-deepdive/0.1)"
DROP_TAGS = ["script", "style", "noscript", "svg", "template", "iframe", "form", "nav", "footer"]
BLOCK_TAGS = [
    "p",
    "div",
    "section",
    "article",
    "li",
    "tr",
    "table",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "blockquote",
    "header",
    "main",
    "dd",
    "dt",
    "figcaption",
]


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool
    """The body was cut at the download limit."""
    charset: str | None = None


async def fetch(
    client: httpx.AsyncClient, method: str, url: str, *, retries: int, backoff_s: float, max_bytes: int, **kwargs
) -> Fetched:
    """One request, retried on timeouts, connection errors, 429 and 5xx; the last answer is returned."""
    for attempt in range(retries + 1):
        last = attempt == retries
        wait = backoff_s * 2**attempt
        try:
            async with client.stream(method, url, **kwargs) as response:
                body, truncated = await _read_capped(response, max_bytes)
        except httpx.TimeoutException as error:
            if last:
                raise ToolError(f"{url} did not answer in time (tried {retries + 1} times)") from error
        except httpx.RequestError as error:  # connection, protocol, decoding, too many redirects
            if last:
                raise ToolError(f"could not fetch {url}: {type(error).__name__} (tried {retries + 1} times)") from error
        else:
            if response.status_code not in RETRY_STATUSES or last:
                return Fetched(response.status_code, response.headers, body, truncated, response.charset_encoding)
            wait = _retry_after(response) or wait
        await asyncio.sleep(min(wait, MAX_WAIT_S))
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], True
    return b"".join(chunks), False


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:  # absent, or an HTTP date: use our own backoff
        return None


async def refuse_private_hosts(request: httpx.Request) -> None:
    """httpx request hook: only hosts with public addresses may be opened."""
    host = request.url.host
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, request.url.port or 443)
    except socket.gaierror as error:
        raise ToolError(f"could not resolve the host {host!r}") from error
    for info in infos:
        if not ipaddress.ip_address(info[4][0].split("%")[0]).is_global:
            raise ToolError(f"refusing to open {request.url}: {host} is not a public address")


def page_text(url: str, fetched: Fetched) -> str:
    """The readable text of a fetched page (HTML, PDF or plain text)."""
    content_type = fetched.headers.get("content-type", "").split(";")[0].strip().lower()
    body = fetched.body
    if content_type == "application/pdf" or body.startswith(b"%PDF-"):
        if fetched.truncated:
            raise ToolError(f"the PDF at {url} is larger than the download limit")
        return pdf_to_text(url, body)
    if content_type in ("text/html", "application/xhtml+xml") or (not content_type and body.lstrip()[:1] == b"<"):
        return html_to_text(body)
    if content_type.startswith("text/") or content_type in ("application/json", "application/xml"):
        try:
            return body.decode(fetched.charset or "utf-8", errors="replace")
        except LookupError:  # a charset name Python does not know
            return body.decode("utf-8", errors="replace")
    raise ToolError(f"cannot read {content_type or 'unknown'} content at {url}")


def html_to_text(html: bytes | str) -> str:
    """Title and visible text, one block-level element per line."""
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(DROP_TAGS + ["head"]):
        tag.decompose()
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(BLOCK_TAGS):
        tag.append("\n")
    lines = (" ".join(line.split()) for line in soup.get_text().splitlines())
    text = "\n".join(line for line in lines if line)
    return f"{title}\n\n{text}" if title else text


def pdf_to_text(url: str, data: bytes) -> str:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except pypdf.errors.PyPdfError as error:
        raise ToolError(f"could not read the PDF at {url}: {error}") from error
    blocks = ("\n".join(" ".join(line.split()) for line in page.splitlines() if line.strip()) for page in pages)
    return "\n\n".join(blocks)
