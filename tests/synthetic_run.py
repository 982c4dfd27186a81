"""Synthetic run folders for the HTML report: many rollouts in the shapes rlm-env writes.

`write_synthetic_ablation(out, rollouts=1000)` writes an ablation folder (standard, rlm, rlm-tips)
whose records have the sizes of real RLM rollouts: several turns, cells with outputs up to the
REPL's 8,192-character cap (some cut, with the worker's mark), a few sub-LLM calls per turn
(some using tools), answers of a few hundred characters. traces.jsonl holds what the report
reads from verifiers' traces: each call's tokens and time, the message graph, the gold.

Used by tests/test_html_report.py and scripts/bench_report.py; the data is random but seeded.
"""

import json
import random
from pathlib import Path
from typing import Any

from rlm_env.core.prompts import SUB_LLM_SYSTEM_PROMPT
from rlm_env.repl.worker import _join
from rlm_env.run.evaluate import MODES
from rlm_env.run.results import CONFIG_FILE, RESULTS_FILE, SUMMARY_FILE, TRACES_FILE, summarize

ENV_ID = "verbatim-copy-rlm"
VOCABULARY = (
    "rope trellis granite pear oven saffron radish sketch log pin kit lilac yam quay flute oyster heron "
    "penumbra sage toe amber basin cedar delta ember fjord gable harbor iris jetty kelp lumen"
)
WORDS = VOCABULARY.split()
SYSTEM = (
    "You solve the task by writing Python in a persistent REPL. You only see what your code prints.\n"
    + "- a line of the RLM instructions, as long as the real ones are\n" * 30
)


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _output(rng: random.Random) -> str:
    size = rng.choice([40, 200, 1500, 6000, 20000])
    text = "\n".join(words(rng, 12) for _ in range(size // 80 + 1))
    if len(text) > 8192:  # what the REPL worker does past max_output_chars
        head, tail = 5461, 2731
        text = _join(text[:head], text[-tail:], len(text) - head - tail)
    return text


def _rollout(rng: random.Random, index: int, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One rollout record (rlm_env.run.results.rollout_record's shape) and its trace."""
    gold = words(rng, rng.randint(40, 300))
    answer = gold if rng.random() < 0.5 else gold[: rng.randint(0, len(gold))] + words(rng, 3)
    user = f"Copy the text between the <text> tags exactly.\n\n<text>\n{gold}\n</text>"
    trace_id = f"trace-{mode}-{index}"
    nodes = [
        {"parent": None, "message": {"role": "system", "content": SYSTEM}},
        {"parent": 0, "message": {"role": "user", "content": user}},
    ]
    calls, transcript, cells, sub_calls = [], [m["message"] for m in nodes], [], []
    clock = 1000.0 + index

    def model_call(node: int, request_id: str, prompt: int, completion: int) -> None:
        nonlocal clock
        calls.append(
            {
                "node": node,
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
                "time": {"start": clock, "end": clock + 0.5},
                "finish_reason": "stop",
                "acp": {"request_id": request_id},
            }
        )
        clock += 0.6

    turns = 1 if mode == "standard" else rng.randint(2, 6)
    for turn in range(1, turns + 1):
        if mode == "standard":
            message = {"role": "assistant", "content": answer}
        else:
            code = f"# turn {turn}\n" + "\n".join(
                f"part_{i} = llm_batch([{words(rng, 4)!r}])\nprint(part_{i})" for i in range(rng.randint(3, 12))
            )
            if turn == turns:
                code += f"\nanswer['content'] = {answer!r}\nanswer['ready'] = True"
            message = {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": f"call_{turn}",
                        "type": "function",
                        "name": "python",
                        "arguments": json.dumps({"code": code}),
                    }
                ],
            }
        nodes.append({"parent": len(nodes) - 1, "message": message})
        transcript.append(message)
        model_call(len(nodes) - 1, f"root-{turn}", 1500 * turn, rng.randint(50, 600))
        if mode == "standard":
            break
        output = _output(rng)
        cells.append({"code": code, "output": output, "seconds": rng.random(), "timed_out": False, "restarted": False})
        for _ in range(rng.randint(0, 4)):
            sub_index = len(sub_calls)
            prompt, reply = words(rng, rng.randint(50, 250)), words(rng, rng.randint(10, 60))
            tools = rng.random() < 0.2
            start = len(nodes)
            nodes += [
                {"parent": None, "message": {"role": "system", "content": SUB_LLM_SYSTEM_PROMPT}},
                {"parent": start, "message": {"role": "user", "content": prompt}},
            ]
            request_ids = []
            if tools:
                nodes += [
                    {
                        "parent": start + 1,
                        "message": {
                            "role": "assistant",
                            "tool_calls": [
                                {
                                    "id": "t1",
                                    "type": "function",
                                    "name": "search",
                                    "arguments": json.dumps({"q": words(rng, 3)}),
                                }
                            ],
                        },
                    },
                    {"parent": start + 2, "message": {"role": "tool", "tool_call_id": "t1", "content": words(rng, 80)}},
                ]
                request_ids.append(f"sub-{sub_index}-0")
                model_call(start + 2, request_ids[-1], 400, 30)
            nodes.append({"parent": len(nodes) - 1, "message": {"role": "assistant", "content": reply}})
            request_ids.append(f"sub-{sub_index}-{len(request_ids)}")
            model_call(len(nodes) - 1, request_ids[-1], 500, 60)
            sub_calls.append(
                {
                    "index": sub_index,
                    "prompt": prompt,
                    "reply": reply,
                    "parent_request_id": f"root-{turn}",
                    "request_ids": request_ids,
                    "turns": len(request_ids),
                    "tool_calls": int(tools),
                    "error": None,
                }
            )
        if turn < turns:
            transcript.append({"role": "tool", "tool_call_id": f"call_{turn}", "content": output})
            nodes.append({"parent": len(nodes) - 1, "message": transcript[-1]})
        if rng.random() < 0.1 and turn < turns:
            transcript.append(
                {"role": "user", "content": "Note: this conversation now uses about 81% of the context window."}
            )

    root = [c for c in calls if c["acp"]["request_id"].startswith("root-")]
    sub = [c for c in calls if c["acp"]["request_id"].startswith("sub-")]
    reward = float(answer == gold)
    stop = "completed" if mode == "standard" else rng.choice(["answer_ready"] * 8 + ["max_turns", "max_wall_time"])
    record = {
        "index": index,
        "task_id": f"words-{index // 2}",
        "task_index": index // 2,
        "rollout": index % 2,
        "trace_id": trace_id,
        "mode": "standard" if mode == "standard" else "rlm",
        "env_tips": mode == "rlm-tips",
        "ok": True,
        "errors": [],
        "stop_reason": stop,
        "stop_condition": "agent_completed",
        "reward": reward,
        "rewards": {"exact_match": reward},
        "metrics": {
            "root_turns": float(turns),
            "root_prompt_tokens": float(sum(c["usage"]["prompt_tokens"] for c in root)),
            "root_completion_tokens": float(sum(c["usage"]["completion_tokens"] for c in root)),
            "sub_llm_calls": float(len(sub_calls)),
            "sub_llm_prompt_tokens": float(sum(c["usage"]["prompt_tokens"] for c in sub)),
            "sub_llm_completion_tokens": float(sum(c["usage"]["completion_tokens"] for c in sub)),
            "repl_seconds": sum(c["seconds"] for c in cells),
            "char_accuracy": rng.random(),
        },
        "seconds": clock - 1000.0 - index,
        "prompt": {"system": None, "user": user},
        "transcript": transcript,
        "cells": cells,
        "sub_llm_calls": sub_calls,
        "answer": answer,
    }
    trace = {
        "id": trace_id,
        "task": {"data": {"id": record["task_id"], "idx": index // 2, "text": gold}},
        "calls": calls,
        "nodes": nodes,
        "ok": True,
    }
    return record, trace


def write_synthetic_run(out: Path, mode: str, rollouts: int, seed: int = 0) -> Path:
    """One run folder of `rollouts` synthetic rollouts of `mode`."""
    rng = random.Random(f"{seed}-{mode}")
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "env_id": ENV_ID,
        "mode": mode,
        "model": "synthetic",
        "base_url": "http://127.0.0.1:1/v1",
        "num_tasks": (rollouts + 1) // 2,
        "rollouts_per_task": 2,
        "concurrency": 4,
        "env_args": {},
        "harness_args": {},
        "sampling": {},
        "versions": {"rlm-env": "synthetic"},
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    records = []
    with (out / RESULTS_FILE).open("w") as results, (out / TRACES_FILE).open("w") as traces:
        for index in range(rollouts):
            record, trace = _rollout(rng, index, mode)
            records.append(record)
            results.write(json.dumps(record) + "\n")
            traces.write(json.dumps({"id": f"episode-{index}", "traces": [trace]}) + "\n")
    summary = {"env_id": ENV_ID, "mode": mode, "model": "synthetic", **summarize(records), "run_seconds": 1.0}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return out


def write_synthetic_ablation(out: Path, rollouts: int = 1000, seed: int = 0) -> Path:
    """An ablation folder holding `rollouts` rollouts in all, split over the three modes."""
    modes = list(MODES)
    for number, mode in enumerate(modes):
        write_synthetic_run(out / mode, mode, rollouts // len(modes) + (number < rollouts % len(modes)), seed)
    return out
