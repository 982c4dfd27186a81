r"""math-python-rlm: math_verify scoring in a killable worker, loaders (local files with the hub's
columns, difficulty filter, offline reasoning-gym source), and one end-to-end run per mode."""

import asyncio
import json
import re
import time
from pathlib import Path

import datasets
import pytest
from pydantic import ValidationError

import rlm_env.scoring.math_check as scoring
from conftest import hub_unreachable_error, run_env
from fake_openai import FakeOpenAI, code, text
from math_python_rlm.prompts import PACKAGES, TIPS
from math_python_rlm.taskset import MathPythonConfig, MathPythonData, MathPythonTask, MathPythonTaskset
from rlm_env import RolloutInfo
from rlm_env.data import DatasetUnavailable
from rlm_env.scoring import VerifierError, extract_boxed, verify_math

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "intellect3_math.sample.jsonl"
# The gold answers of the 50 real INTELLECT-3-RL math rows in shared/data (section 2 of its README),
# exactly as stored: some keep doubled backslashes (two characters in the value).
REAL_GOLDS = [
    "388",
    " 2 \\\\mid n ",
    "15",
    "1",
    "50\\\\mathrm{C}",
    "799",
    "3.49\\\\,",
    "\\\\frac{2}{5}",
    "80",
    "10",
    "54",
    "16.67",
    "96",
    "4",
    "2",
    "2",
    "25",
    "19958400",
    "41",
    "30^\\\\circ",
    "17",
    "216695",
    "32",
    "68",
    "461",
    "9089",
    "9/35",
    "32",
    "120.75280458176904",
    "15",
    "984321",
    "21",
    "95.68",
    "6",
    "2",
    "75",
    "(1-t+t^2)^2",
    "1009",
    "\\\\frac{6}{5}",
    "5\\\\sqrt{23}",
    "21.333\\\\%",
    "5.5",
    "664",
    "fishing",
    "288",
    "91",
    "0.04",
    "2^{1997}>5^{850}",
    "16",
    "77500",
]
ADVERSARIAL = "\\boxed{" + "1+" * 500_000 + "1}"  # 1 MB: sympy needs minutes for it


class HandTrace:
    """What the task's scorers read from a trace: the final reply and the harness's record."""

    def __init__(self, reply: str, mode: str | None = "standard") -> None:
        self.last_reply = reply.strip()
        self.info: dict = {}
        if mode:
            RolloutInfo(mode=mode, env_tips=False, stop_reason="completed").write(self)
        self.metrics: dict[str, float] = {}

    def record_metrics(self, values: dict[str, float]) -> None:
        self.metrics.update(values)


def score(gold: str, reply: str, mode: str | None = "standard", timeout_s: float = 10.0) -> tuple[float, dict]:
    task = MathPythonTask(
        MathPythonData(prompt="q", answer=gold, source="test"), MathPythonTask.config_type()(verify_timeout_s=timeout_s)
    )
    trace = HandTrace(reply, mode)
    reward = asyncio.run(task.correct_answer(trace))
    return reward, {**trace.metrics, "answer_parsed": asyncio.run(task.answer_parsed(trace))}


# --- scoring --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, gold",
    [
        (r"\frac{1}{2}", "0.5"),
        ("0.5", r"\frac{1}{2}"),
        (r"2\sqrt{2}", r"\sqrt{8}"),
        ("[1, 2)", "[1,2)"),
        (r"(0, \infty)", r"(0,\infty)"),
        (r"\{3, 1, 2\}", r"\{1,2,3\}"),
        ("1, 2, 3", r"\{1,2,3\}"),
        ("x = 5", "5"),
        (r"(t^2-t+1)^2", "(1-t+t^2)^2"),
        (r"50\mathrm{C}", "50\\\\mathrm{C}"),
        ("0.4", "\\\\frac{2}{5}"),
        ("3.49", "3.49\\\\,"),
        (r"\sqrt{575}", "5\\\\sqrt{23}"),
        ("279/428", r"$\frac{279}{428}$"),
    ],
)
def test_equivalent_forms_verify(answer, gold):
    result = verify_math(answer, gold)
    assert result.correct and not result.timed_out


@pytest.mark.parametrize(
    "answer, gold",
    [
        (r"\frac{1}{3}", "0.5"),
        ("(1, 2]", "[1,2)"),
        (r"\{1,2\}", r"\{1,2,3\}"),
        ("389", "388"),
        ("fish", "fishing"),
        ("", "388"),
    ],
)
def test_wrong_answers_do_not_verify(answer, gold):
    assert not verify_math(answer, gold).correct


def test_real_sample_golds_score_one_against_themselves_boxed_and_bare():
    if SAMPLE.exists():  # the list above is that file's answers, verbatim
        assert REAL_GOLDS == [json.loads(line)["answer"] for line in SAMPLE.read_text().splitlines()]
    assert len(REAL_GOLDS) == 50 and sum("\\\\" in g for g in REAL_GOLDS) == 8  # the quirk is kept
    assert [g for g in REAL_GOLDS if score(g, f"so the answer is \\boxed{{{g}}}.")[0] != 1.0] == []
    assert [g for g in REAL_GOLDS if score(g, g, mode="rlm")[0] != 1.0] == []


@pytest.mark.parametrize(
    "reply, reward",
    [
        ("The answer is 0.5.", 1.0),  # no box: the whole reply goes to math_verify, as in the article's baseline
        ("0.5", 1.0),
        ("<think>maybe 0.4</think>\nThe answer is $\\frac{1}{2}$.", 1.0),
        ("I computed 3 and then 0.5", 0.0),  # read as one (wrong) expression
        # math_verify reads an unboxed reply's final answer-like expression: naming several values scores
        # as if the last one were the answer, never better than committing to it
        ("It is 0.4 or 0.5.", 1.0),
        ("It is 0.5 or 0.4.", 0.0),
        ("The answer is 0.4.", 0.0),
        ("So \\boxed{0.4}, not 0.5", 0.0),  # a box, when there is one, is the answer
    ],
)
def test_standard_mode_unboxed_reply_goes_whole_to_math_verify(reply, reward):
    assert score("0.5", reply)[0] == reward
    assert score("0.5", reply)[1]["answer_parsed"] == 1.0


def test_unclosed_reasoning_is_no_answer_and_a_bad_gold_still_raises_unboxed():
    assert score("0.5", "<think>the answer is 0.5")[1]["answer_parsed"] == 0.0
    with pytest.raises(VerifierError, match="no answer in the gold"):
        score("  ", "The answer is 1.")  # standard mode, no box: still a typed error, never a 0


def test_final_answer_rules_per_mode():
    assert score("0.5", r"It is \boxed{\frac{1}{2}}.") == (
        1.0,
        {"verify_seconds": pytest.approx(0, abs=5), "verify_timed_out": 0.0, "answer_parsed": 1.0},
    )
    assert score("0.5", "0.5", mode=None)[0] == 0.0  # another harness: box required
    assert score("0.5", "0.5", mode="rlm")[0] == 1.0  # RLM: answer["content"] may be bare
    assert score("0.5", r"\boxed{0.5}", mode="rlm")[0] == 1.0
    for empty, mode in [("", "rlm"), ("   ", "rlm"), (r"\boxed{}", "standard"), (r"\boxed{ }", "rlm")]:
        assert score("0.5", empty, mode=mode) == (
            0.0,
            {"verify_seconds": 0.0, "verify_timed_out": 0.0, "answer_parsed": 0.0},
        )


@pytest.mark.parametrize("mode", ["standard", "rlm"])
def test_a_1mb_adversarial_answer_scores_zero_within_the_time_limit(mode):
    start = time.monotonic()
    reward, metrics = score("3", ADVERSARIAL, mode=mode, timeout_s=2.0)
    assert reward == 0.0 and metrics["verify_timed_out"] == 1.0 and metrics["answer_parsed"] == 1.0
    # Killed at the limit rather than left to run: a wide bound, since a loaded CI machine is slow to
    # start the fresh worker (an unkilled check of this answer runs for many minutes).
    assert time.monotonic() - start < 60.0


def test_a_hanging_short_answer_is_killed_and_the_next_check_still_works():
    result = verify_math("9^{9^{9^{9}}}", "3", timeout_s=1.5)  # sympy's pow never returns
    assert result.timed_out and not result.correct and 1.5 <= result.seconds < 3
    assert verify_math("3", "3", timeout_s=10).correct


def test_verifier_failures_raise_instead_of_scoring_zero(monkeypatch):
    with pytest.raises(VerifierError, match="no answer in the gold"):
        verify_math("1", "")
    with pytest.raises(VerifierError, match="no answer in the gold"):
        score("  ", r"\boxed{1}")  # through the task's reward: no silent zero
    # a worker that dies mid-check (a crash of math_verify or sympy)
    monkeypatch.setattr(scoring, "_idle_workers", [])
    dies = "import sys\nprint('[\"ready\"]', flush=True)\nsys.stdin.readline()\nsys.exit(3)"
    monkeypatch.setattr(scoring, "_WORKER_SOURCE", dies)
    with pytest.raises(VerifierError, match="worker died \\(exit code 3"):
        verify_math("1", "1")


def test_extract_boxed_is_linear_on_unclosed_boxes():
    start = time.monotonic()
    assert extract_boxed("\\boxed{" * 150_000) is None
    assert extract_boxed(r"\boxed{1} \boxed{\frac{1}{2}} \boxed{" + "{" * 100_000) == r"\frac{1}{2}"
    assert len(extract_boxed(ADVERSARIAL)) == 1_000_001
    assert time.monotonic() - start < 2.0


# --- loaders --------------------------------------------------------------------------------

DIFFICULTY = [0.0, 0.125, 0.5, None, 0.875, 1.0, 0.25, 0.625]


@pytest.fixture
def hub_file(tmp_path) -> str:
    """A local parquet file with INTELLECT-3-RL math's column layout."""
    rows = [
        {
            "question": f"Question {i}?",
            "answer": gold,
            "avg@8_qwen3_4b_thinking_2507": 1.0,
            "avg@8_qwen3_4b_instruct_2507": difficulty,
        }
        for i, (gold, difficulty) in enumerate(zip(REAL_GOLDS, DIFFICULTY))
    ]
    path = tmp_path / "math.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    return str(path)


def test_rows_load_from_a_local_file_with_the_hub_columns(hub_file):
    tasks = MathPythonTaskset(MathPythonConfig(data_files=[hub_file], shuffle=False)).load()
    assert [t.data.id for t in tasks] == [f"intellect3-math-train-{i}" for i in range(8)]
    data = tasks[2].data
    assert data.prompt.endswith("\n\nQuestion 2?") and "\\boxed{}" in data.prompt
    assert data.answer == datasets.Dataset.from_parquet(hub_file)["answer"][2] and data.avg_reward == 0.5
    assert data.repl_packages == PACKAGES == ["numpy", "scipy", "sympy"] and data.standard_python_tool
    assert data.extra_data is None and data.env_tips == TIPS


def test_difficulty_filter_and_shuffle(hub_file):
    def ids(**config):
        tasks = MathPythonTaskset(MathPythonConfig(data_files=[hub_file], **config)).load()
        return [int(t.data.id.rsplit("-", 1)[1]) for t in tasks]

    assert ids(min_avg_reward=0.2, max_avg_reward=0.8, shuffle=False) == [2, 6, 7]
    assert ids(max_avg_reward=0.2, shuffle=False) == [0, 1]  # the row without a value is dropped
    assert ids(min_avg_reward=0.9, shuffle=False) == [5]
    thinking = ids(difficulty_column="avg@8_qwen3_4b_thinking_2507", min_avg_reward=1.0, shuffle=False)
    assert thinking == list(range(8))
    # the permutation datasets' Dataset.shuffle(seed) applies, so hub orders match the published env's
    expected = datasets.Dataset.from_parquet(hub_file).add_column("i", list(range(8))).shuffle(seed=42)["i"][:5]
    assert ids(num_examples=5) == expected != list(range(5))
    with pytest.raises(ValueError, match="difficulty_column 'avg@8_nope' is not in the data"):
        ids(difficulty_column="avg@8_nope", min_avg_reward=0.5)


@pytest.mark.parametrize(
    "bad, fix",
    [
        ({"min_avg_reward": 0.8, "max_avg_reward": 0.2}, "swap or widen them"),
        ({"max_avg_reward": 1.5}, "less than or equal to 1"),
        ({"source": "offline", "min_avg_reward": 0.5}, "drop min_avg_reward/max_avg_reward"),
        ({"source": "offline", "num_examples": None}, "set num_examples"),
        ({"offline_datasets": ["chess"]}, "'gsm_symbolic', 'simple_equations'"),
        ({"task": {"verify_timeout_s": 0}}, "greater than 0"),
    ],
)
def test_config_errors_name_the_fix(bad, fix):
    with pytest.raises(ValidationError, match=re.escape(fix)):
        MathPythonConfig(**bad)


@pytest.fixture
def real_sample_file(tmp_path) -> str:
    """The 50 real rows of shared/data in INTELLECT-3-RL math's column layout (difficulty columns added)."""
    if not SAMPLE.exists():
        pytest.skip(f"{SAMPLE} is not on this machine")
    rows = [
        {**json.loads(line), "avg@8_qwen3_4b_thinking_2507": 0.5, "avg@8_qwen3_4b_instruct_2507": 0.5}
        for line in SAMPLE.read_text().splitlines()
    ]
    path = tmp_path / "math.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    return str(path)


def test_article_preset_takes_the_reference_rows_in_the_reference_order(real_sample_file):
    config = MathPythonConfig(preset="article", data_files=[real_sample_file], num_examples=10)
    assert (config.seed, config.shuffle, config.split, config.min_avg_reward, config.max_avg_reward) == (
        42,
        True,
        "train",
        None,
        None,
    )
    tasks = MathPythonTaskset(config).load()
    # the reference: load the split, Dataset.shuffle(seed=42), the first rows
    reference = datasets.Dataset.from_parquet(real_sample_file).add_column("row", list(range(50))).shuffle(seed=42)
    assert [t.data.id for t in tasks] == [f"intellect3-math-train-{i}" for i in reference["row"][:10]]
    assert [t.data.answer for t in tasks] == reference["answer"][:10]
    assert MathPythonConfig(preset="article").num_examples == 50
    assert MathPythonConfig(preset="article", seed=7, num_examples=3).seed == 7  # explicit values win


def test_missing_local_file_and_unreachable_hub_say_so():
    with pytest.raises(DatasetUnavailable, match="not found"):
        MathPythonTaskset(MathPythonConfig(data_files=["/nonexistent/math.parquet"])).load()
    out = hub_unreachable_error("math_python_rlm.taskset", "MathPythonTaskset", "MathPythonConfig")
    assert "could not load PrimeIntellect/INTELLECT-3-RL (math)" in out and '"source": "offline"' in out


def test_offline_source_is_deterministic_mixed_and_its_golds_verify():
    config = MathPythonConfig(
        source="offline",
        num_examples=6,
        seed=3,
        offline_datasets=["gsm_symbolic", "simple_equations", "fraction_simplification"],
    )
    first, second = MathPythonTaskset(config).load(), MathPythonTaskset(config).load()
    assert [t.data for t in first] == [t.data for t in second] and len({t.data.id for t in first}) == 6
    assert [t.data.source for t in first[:3]] == [
        "reasoning-gym/gsm_symbolic",
        "reasoning-gym/simple_equations",
        "reasoning-gym/fraction_simplification",
    ]
    for task in first:
        assert task.data.answer.strip() and task.data.avg_reward is None
        assert score(task.data.answer, f"\\boxed{{{task.data.answer}}}")[0] == 1.0
    other_seed = MathPythonTaskset(config.model_copy(update={"seed": 4})).load()
    assert [t.data.prompt for t in other_seed] != [t.data.prompt for t in first]


# --- end to end, one per mode ---------------------------------------------------------------

OFFLINE = {"source": "offline", "num_examples": 2, "seed": 5}


def offline_golds() -> dict[str, str]:
    """Prompt -> gold of the tasks the e2e runs load."""
    return {t.data.prompt: t.data.answer for t in MathPythonTaskset(MathPythonConfig(**OFFLINE)).load()}


def test_e2e_standard_mode_uses_the_python_tool_and_scores_the_boxed_gold():
    golds = offline_golds()

    def root(request):
        messages = request["messages"]
        assert [t["function"]["name"] for t in request["tools"]] == ["python"]
        assert all("llm_batch" not in str(m.get("content")) for m in messages)  # no REPL scaffold
        if messages[-1]["role"] != "tool":
            return code("import numpy, scipy, sympy\nprint(sympy.Rational(1, 2) + sympy.Rational(1, 3))")
        assert messages[-1]["content"].strip() == "5/6"  # sympy ran in the sandboxed tool
        return text(f"So the result is \\boxed{{{golds[messages[-3]['content']]}}}.")

    with FakeOpenAI(root=root) as server:
        results = run_env(server, "math-python-rlm", OFFLINE, {"mode": "standard"})
    server.check()
    for _, trace in results:
        assert trace.ok, trace.errors
        assert trace.reward == 1.0 and trace.metrics["answer_parsed"] == 1.0 and trace.metrics["verify_timed_out"] == 0
        assert trace.metrics["root_turns"] == 2 and trace.info["rlm_env"]["mode"] == "standard"


def test_e2e_rlm_mode_bare_answer_and_packages_in_the_system_prompt():
    golds = offline_golds()
    wrong = iter([False, True])

    def root(request):
        system, user = request["messages"][0]["content"], request["messages"][1]["content"]
        assert "the Python standard library, numpy, scipy, sympy" in system and "<env_tips>" not in user
        answer = golds[user] + ("1" if next(wrong) else "")  # the second task gets a wrong answer
        return code(f"import numpy, scipy, sympy\nanswer['content'] = {answer!r}\nanswer['ready'] = True")

    with FakeOpenAI(root=root) as server:
        results = run_env(server, "math-python-rlm", OFFLINE, {})
    server.check()
    assert [trace.reward for _, trace in results] == [1.0, 0.0]
    for _, trace in results:
        assert trace.ok and trace.info["rlm_env"]["stop_reason"] == "answer_ready"
        assert trace.metrics["answer_parsed"] == 1.0 and trace.metrics["repl_calls"] == 1


def test_e2e_rlm_with_tips_checks_with_sub_llms_and_scores_the_boxed_gold():
    golds = offline_golds()

    def root(request):
        user = request["messages"][1]["content"]
        prompt, tips = user.split("\n\n<env_tips>\n")
        assert tips == TIPS + "\n</env_tips>"
        if request["messages"][-1]["role"] != "tool":
            return code("checks = llm_batch(['Check: is 2 + 2 = 4?', 'Solve it yourself.'])\nprint(checks)")
        assert "['4', '4']" in request["messages"][-1]["content"]
        boxed = "\\boxed{" + golds[prompt] + "}"
        return code(f"answer['content'] = {boxed!r}\nanswer['ready'] = True")

    with FakeOpenAI(root=root, sub=lambda request: text("Yes: \\boxed{4}")) as server:
        results = run_env(server, "math-python-rlm", OFFLINE, {"env_tips": True})
    server.check()
    for _, trace in results:
        assert trace.ok, trace.errors
        assert trace.reward == 1.0 and trace.metrics["sub_llm_calls"] == 2
        assert trace.root_reply.startswith("\\boxed{")


def test_e2e_a_broken_gold_is_a_typed_error_not_a_zero(tmp_path):
    path = tmp_path / "math.jsonl"
    path.write_text(json.dumps({"question": "What is 1 + 1?", "answer": " "}) + "\n")

    with FakeOpenAI(root=lambda request: code("answer['content'] = '2'\nanswer['ready'] = True")) as server:
        [(_, trace)] = run_env(server, "math-python-rlm", {"data_files": [str(path)]}, {})
    server.check()
    assert not trace.ok and trace.rewards["correct_answer"] is None
    assert trace.errors[-1].type == "TaskError" and "no answer in the gold" in trace.errors[-1].message
