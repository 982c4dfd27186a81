"""`rlm-env report`: the HTML report of real run folders, checked in a real headless Chromium.

The runs are made here, through `rlm-env ablate` against the scripted fake server: every mode,
two verbatim-copy tasks, the second answered one character short. In RLM mode the first turn
asks two sub-LLMs and prints more than the REPL shows (so the cell is cut), the second sets the
answer. The browser is Debian's chromium (scripts/install_chromium.sh installs it), driven by
Playwright; where it is missing the browser tests skip and say why. Each browser test saves
screenshots under its tmp dir and prints their paths.
"""

import json
import re
import shutil
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI, code, text
from rlm_env.core.prompts import SUB_LLM_SYSTEM_PROMPT
from rlm_env.repl.worker import _join
from rlm_env.run import cli
from rlm_env.run.html_report import _cell_view, _char_diff, build_report, read_run, report_data
from synthetic_run import write_synthetic_run
from verbatim_copy_rlm.taskset import VerbatimCopyConfig, VerbatimCopyTaskset

ENV = "verbatim-copy-rlm"
SHORT = {"num_examples": 2, "min_length": 50, "max_length": 90, "content_type": "words"}
TEXTS = [task.data.text for task in VerbatimCopyTaskset(VerbatimCopyConfig(**SHORT)).load()]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def copied(request: dict) -> str:
    prompt = next(m["content"] for m in request["messages"] if m["role"] == "user")
    return prompt.split("<text>\n", 1)[1].split("\n</text>", 1)[0]


def fake_model(request: dict) -> dict:
    answer = copied(request)
    if answer == TEXTS[1]:
        answer = answer[:-1]
    if not request.get("tools"):  # standard mode
        return text(answer)
    if not any(m["role"] == "assistant" for m in request["messages"]):
        return code("parts = llm_batch(['first', 'second'])\nprint(parts)\nprint('x' * 20000)")
    return code(f"answer['content'] = {answer!r}\nanswer['ready'] = True")


def run(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def ablation(tmp_path_factory) -> Path:
    """An ablation folder made by `rlm-env ablate` (three modes, two tasks each)."""
    out = tmp_path_factory.mktemp("report") / "ablation"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAKE_API_KEY", "sk-fake")
        with FakeOpenAI(
            root=fake_model,
            sub=lambda request: text("sub reply"),
            is_sub=lambda request: request["messages"][0]["content"] == SUB_LLM_SYSTEM_PROMPT,
        ) as fake:
            status = cli.main(
                [
                    "ablate",
                    ENV,
                    "-n",
                    "2",
                    "--env-args",
                    json.dumps(SHORT),
                    "--base-url",
                    fake.base_url,
                    "--model",
                    "fake",
                    "--api-key-var",
                    "FAKE_API_KEY",
                    "--out",
                    str(out),
                ]
            )
        fake.check()
    assert status == 0
    return out


def copy_run(ablation: Path, mode: str, to: Path) -> Path:
    shutil.copytree(ablation / mode, to)
    (to / "report.html").unlink(missing_ok=True)
    return to


def page_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html).group(1))


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian's chromium is not installed ({CHROMIUM}): run scripts/install_chromium.sh as root "
            "(./scripts/test.sh does); the report's browser tests did not run"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync --all-packages)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


class Page:
    """A report open in Chromium, recording script errors and any request that leaves the file."""

    def __init__(self, browser, path: Path, view: str = "") -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        # blob: is plotly.js, handed from the page to itself; anything else would be a fetch
        self.page.on(
            "request",
            lambda r: (
                r.url.startswith(("file:", "blob:", "data:", "about:")) or self.problems.append(f"fetched {r.url}")
            ),
        )
        self.page.goto(path.resolve().as_uri() + view)

    def texts(self, selector: str) -> list[str]:
        return self.page.locator(selector).all_inner_texts()

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def screenshot(self, path: Path) -> None:
        self.page.screenshot(path=path, full_page=True)
        print(f"screenshot: {path}")


def test_report_of_an_ablation_in_chromium(ablation, browser, tmp_path, capsys):
    status, stdout, stderr = run(capsys, "report", ablation)
    assert status == 0, stderr
    assert stdout.strip() == str(ablation / "report.html")
    view = Page(browser, ablation / "report.html")
    page = view.page

    # The ablation: one row per mode, the charts drawn by the inlined plotly.js.
    assert [row.split("\t")[0] for row in view.texts("#ablation-table tbody tr")] == ["standard", "rlm", "rlm-tips"]
    assert "0.500 [0.000, 1.000] (n=2)" in view.texts("#ablation-table tbody tr")[1]
    page.wait_for_selector("#chart-stops .main-svg")
    assert view.count("#charts .chart .main-svg") >= 4
    assert view.count(".config") == 3
    with capsys.disabled():
        view.screenshot(tmp_path / "report-ablation.png")

    # The list and its filters.
    page.click("#nav-rollouts")
    rows = "#rollout-list tbody tr"
    assert view.count(rows) == 6
    page.select_option("#filter-mode", "rlm")
    assert view.count(rows) == 2 and view.texts("#list-count") == ["2 of 6 rollouts"]
    assert all("\trlm\t" in row for row in view.texts(rows))
    page.select_option("#filter-mode", "")
    page.fill("#filter-search", "llm_batch")  # code: the RLM rollouts only
    assert view.count(rows) == 4
    page.fill("#filter-search", TEXTS[1][:-1])  # answers
    assert view.count(rows) == 3
    page.fill("#filter-search", "")
    page.select_option("#filter-reward", "zero")
    assert view.count(rows) == 3
    page.select_option("#filter-stop", "completed")
    assert view.count(rows) == 1 and "\tstandard\t" in view.texts(rows)[0]
    page.select_option("#filter-stop", "")
    page.select_option("#filter-reward", "")
    page.select_option("#sort", "tokens")  # the RLM rollouts also spent sub-LLM tokens
    assert "\tstandard\t" not in view.texts(rows)[0] and "\tstandard\t" in view.texts(rows)[-1]
    page.select_option("#sort", "")

    # The rlm rollout of task 1: two turns, cells, sub-LLM calls, the answer beside the gold.
    page.select_option("#filter-mode", "rlm")
    page.locator(rows).nth(1).click()
    page.wait_for_selector("#rollout-facts")
    assert "reward 0.000" in view.texts("#rollout-facts")[0] and "mode rlm" in view.texts("#rollout-facts")[0]
    assert view.count(".turn") == 2
    first = page.locator(".turn").nth(0)
    assert "parts = llm_batch(['first', 'second'])" in first.locator(".cell pre.code").inner_text()
    output = first.locator(".output").inner_text()
    assert "['sub reply', 'sub reply']" in output and "output truncated" not in output  # past what shows
    assert re.search(r"cut by the REPL: [\d,]+ characters not shown", first.locator(".mark.truncated").inner_text())
    shown = len(first.locator(".output pre").inner_text())
    first.locator(".output button.expand").click()
    assert len(first.locator(".output pre").inner_text()) > shown >= 3000
    assert "[... output truncated: 11,836 characters not shown ...]" in first.locator(".output pre").inner_text()
    assert "100 prompt + 10 completion tokens" in first.locator(".title").first.inner_text()

    calls = first.locator("details.sub-call")
    assert calls.count() == 2
    calls.nth(1).locator("summary").click()
    body = calls.nth(1).locator(".body").inner_text()
    assert "second" in body and "sub reply" in body and "100 + 10 tokens" in calls.nth(1).inner_text()
    second = page.locator(".turn").nth(1)
    assert "answer['ready'] = True" in second.locator(".cell pre.code").inner_text()

    answer = page.locator(".answer")
    assert TEXTS[1] in answer.inner_text()
    assert answer.locator("pre.diff ins").all_inner_texts() == [TEXTS[1][-1]]  # the character it dropped
    with capsys.disabled():
        view.screenshot(tmp_path / "report-rollout.png")

    page.click(".rollout-nav a:has-text('previous')")
    page.wait_for_selector("#rollout-facts")
    assert "reward 1.000" in view.texts("#rollout-facts")[0]
    assert view.problems == []


def test_a_damaged_run_is_reported_in_the_page_and_the_rest_rendered(ablation, browser, tmp_path, capsys):
    """A corrupt line and a cut-off last line; one record whose answer is markup; one sub-LLM
    call with a child (depth 2)."""
    folder = copy_run(ablation, "rlm", tmp_path / "damaged")
    lines = (folder / "results.jsonl").read_text().splitlines()
    hostile = json.loads(lines[0]) | {"index": 7, "answer": '<img src=x onerror="window.pwned=1"></script><b>'}
    hostile["sub_llm_calls"][0] |= {
        "depth": 1,
        "children": [
            {"index": 0, "depth": 2, "prompt": "grandchild prompt", "reply": "grandchild reply", "request_ids": []}
        ],
    }
    lines[1:1] = ["{not json", json.dumps(hostile)]
    (folder / "results.jsonl").write_text("\n".join(lines) + '\n{"index": 9, "task_')
    assert run(capsys, "report", folder)[0] == 0

    view = Page(browser, folder / "report.html", "#rollouts")
    page = view.page
    problems = view.texts("#problems li")
    assert any("results.jsonl line 2 is not valid JSON" in p for p in problems)
    assert any("results.jsonl line 5 is not valid JSON" in p for p in problems)
    assert view.texts("#list-count") == ["3 rollouts"]
    page.locator("#rollout-list tbody tr").nth(2).click()
    page.wait_for_selector("#rollout-facts")
    assert 'onerror="window.pwned=1"></script><b>' in page.locator(".answer").inner_text()
    assert page.evaluate("window.pwned") is None
    call = page.locator("details.sub-call").first
    call.locator("summary").click()
    child = call.locator(".children details.sub-call")
    child.first.wait_for()  # the body is built on the "toggle" event, which fires after the click
    assert child.count() == 1 and "depth 2" in child.inner_text()
    child.locator("summary").click()
    child.locator(".body").first.wait_for()
    assert "grandchild reply" in child.inner_text()
    with capsys.disabled():
        view.screenshot(tmp_path / "report-damaged.png")
    assert view.problems == []


def test_a_large_run_is_drawn_a_page_at_a_time(browser, tmp_path, capsys):
    folder = write_synthetic_run(tmp_path / "large", "rlm", rollouts=250)
    assert run(capsys, "report", folder)[0] == 0
    view = Page(browser, folder / "report.html", "#rollouts")
    page = view.page
    assert view.count("#rollout-list tbody tr") == 100 and view.texts("#list-count") == ["250 rollouts"]
    page.click("#page-next")
    page.click("#page-next")
    assert view.count("#rollout-list tbody tr") == 50 and "page 3 of 3" in view.texts("#pager")[0]
    page.locator("#rollout-list tbody tr").last.click()
    page.wait_for_selector("#rollout-facts")
    assert "rollout 249" in view.texts("#rollout-facts")[0]
    assert view.count("#view-rollout .turn") >= 2 and view.count("#rollout-list tbody tr") == 50
    assert view.problems == []


# --------------------------------------------------------------------------- bad input, no browser


def one_line_error(capsys, *argv) -> str:
    status, _, stderr = run(capsys, *argv)
    lines = stderr.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("rlm-env: error: "), stderr
    return lines[0]


def test_a_folder_that_is_not_a_run_is_one_line_naming_what_is_missing(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    line = one_line_error(capsys, "report", tmp_path)
    assert f"{tmp_path} is not a run folder: it has no config.json or results.jsonl, and no folder in it" in line
    assert "pass a folder that `rlm-env eval` or `rlm-env ablate` wrote" in line
    assert "does not exist" in one_line_error(capsys, "report", tmp_path / "missing")
    assert "is a file, not a run folder" in one_line_error(capsys, "report", tmp_path / "notes" / "readme.txt")


def test_an_empty_run_renders_and_says_so(ablation, tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    shutil.copy(ablation / "rlm" / "config.json", folder)  # what a run that crashed before any rollout leaves
    (folder / "results.jsonl").write_text("")
    status, stdout, _ = run(capsys, "report", folder)
    assert status == 0
    html = Path(stdout.strip()).read_text()
    assert "no rollout was recorded" in html and "<td>0 (0)</td>" in html
    assert page_data(html)["rows"] == []


def test_missing_summary_is_computed_from_the_records(ablation, tmp_path):
    folder = copy_run(ablation, "standard", tmp_path / "unfinished")
    (folder / "summary.json").unlink()
    run_ = read_run(folder)
    assert run_.summary["rollouts"] == 2 and run_.summary["reward"]["mean"] == 0.5
    assert any("summary.json is missing" in p for p in run_.problems)


def test_learnability_figures_show_when_the_summary_has_them(ablation, tmp_path):
    folder = tmp_path / "ablation"
    shutil.copytree(ablation, folder)
    for number, mode in enumerate(("standard", "rlm", "rlm-tips")):
        summary = json.loads((folder / mode / "summary.json").read_text())
        summary["learnability"] = {
            "k": 2,
            "pass_at_1": 0.25 * number,
            "pass_at_k": 0.5,
            "learnable_share": 0.125,
            "within_task_reward_std": 0.3,
            "llm_batch_share": 0.75,
            "answer_ready_share": 1.0,
        }
        (folder / mode / "summary.json").write_text(json.dumps(summary))
    html = build_report(folder)
    assert "<th>pass@1</th>" in html and "<th>learnable share</th>" in html
    row = re.search(r'<tr data-mode="rlm-tips">(.*?)</tr>', html, re.DOTALL).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row)[1:9] == [
        "2",
        "0.500",
        "0.500",
        "0.125",
        "0.300",
        "0.750",
        "1.000",
        "220",
    ]
    chart = next(c for c in page_data(html)["charts"] if c["id"] == "learnability")
    assert [trace["name"] for trace in chart["data"]] == ["pass@1", "pass@2", "learnable share"]
    assert chart["data"][0]["y"] == [0.0, 0.25, 0.5]
    # Not there without the figures (summaries written before rlm-env had them).
    bare = tmp_path / "bare"
    shutil.copytree(ablation, bare)
    for mode in ("standard", "rlm", "rlm-tips"):
        summary = json.loads((bare / mode / "summary.json").read_text())
        summary.pop("learnability", None)
        (bare / mode / "summary.json").write_text(json.dumps(summary))
    assert "pass@1" not in build_report(bare)


def test_rollout_bodies_are_embedded_once_and_parsed_on_demand(ablation):
    html = build_report(ablation)
    data, bodies = report_data([read_run(ablation / mode, mode) for mode in ("standard", "rlm", "rlm-tips")])
    assert len(data["rows"]) == 6 and len(bodies) == 6
    assert html.count('<script type="application/json" id="rollout-') == 6
    # The RLM instructions are the same in every RLM rollout: embedded once, referred to by number.
    assert len(data["system_prompts"]) == 2 and html.count("You solve the task by writing Python") == 1
    assert "<script" not in "".join(bodies).replace("\\u003c", "")
    assert "cdn" not in html.lower().split('id="plotly-source"')[0]


def test_cut_cells_are_marked_and_the_diff_rebuilds_the_gold():
    cut = _cell_view({"code": "print(1)", "output": _join("a" * 10, "b" * 5, 123_456), "seconds": 0.5})
    assert cut["truncated_chars"] == 123_456
    assert _cell_view({"output": "short\n"})["truncated_chars"] == 0
    answer, gold = "Rope. Trelis granite pear", "Rope. Trellis granite pears"
    ops = _char_diff(answer, gold)
    rebuilt = "".join(gold[g1:g2] if tag != "delete" else "" for tag, _, _, g1, g2 in ops)
    assert rebuilt == gold and [op[0] for op in ops if op[0] != "equal"] == ["insert", "insert"]


def test_open_says_so_where_no_browser_exists(ablation, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.webbrowser, "open", lambda url: False)
    status, stdout, stderr = run(capsys, "report", ablation, "--out", tmp_path / "r.html", "--open")
    assert status == 0 and stdout.strip() == str(tmp_path / "r.html") and "no browser found here" in stderr


def test_a_sub_llm_that_used_tools_shows_its_whole_conversation_and_tokens(tmp_path):
    folder = write_synthetic_run(tmp_path / "tools", "rlm", rollouts=20)
    data, bodies = report_data([read_run(folder)])
    calls = [call for body in map(json.loads, bodies) for turn in body["turns"] for call in turn["sub_calls"]]
    with_tools = [call for call in calls if call["tool_calls"]]
    assert with_tools and len(with_tools) < len(calls)
    call = with_tools[0]
    assert [m["role"] for m in call["conversation"]] == ["user", "assistant", "tool", "assistant"]
    assert call["conversation"][0]["content"] == call["prompt"] and call["conversation"][-1]["content"] == call["reply"]
    assert call["conversation"][1]["tool_calls"][0]["name"] == "search"
    assert (call["tokens"]["prompt"], call["tokens"]["completion"]) == (900, 90)  # two requests: 400 + 500, 30 + 60
    assert all("conversation" not in c for c in calls if not c["tool_calls"])  # prompt and reply say it all
