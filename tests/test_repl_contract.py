"""One test per clause of the REPL contract (rlm_env/repl/worker.py), on every sandbox backend."""

import asyncio
import json

import pytest

from conftest import open_repl, run


def test_namespace_persists_across_cells(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            await repl.execute("import math\ntotal = 40")
            result = await repl.execute("def twice(x):\n    return 2 * x\nprint(total + 2)")
            assert result.output == "42\n"
            assert (await repl.execute("twice(math.floor(2.5))")).output == "4\n"

    run(scenario())


def test_text_extra_data_is_a_str_and_also_context(backend):
    async def scenario():
        async with open_repl(backend, extra_data="line one\nline two") as repl:
            result = await repl.execute("print(type(extra_data).__name__, len(extra_data), context is extra_data)")
            assert result.output == "str 17 True\n"

    run(scenario())


def test_json_extra_data_is_parsed(backend):
    async def scenario():
        async with open_repl(backend, extra_data={"numbers": [1, 2, 3], "name": "ü"}) as repl:
            result = await repl.execute("sum(extra_data['numbers']), extra_data['name']")
            assert result.output == "(6, 'ü')\n"

    run(scenario())


def test_no_extra_data_is_none(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            assert (await repl.execute("print(extra_data, context)")).output == "None None\n"

    run(scenario())


def test_100_mb_extra_data_loads(backend):
    big = "0123456789" * 10_000_000

    async def scenario():
        async with open_repl(backend, extra_data=big) as repl:
            result = await repl.execute("len(extra_data), extra_data[-3:]")
            assert result.output == "(100000000, '789')\n"

    run(scenario())


def test_answer_starts_empty_and_is_reported(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            first = await repl.execute("answer")
            assert first.output == "{'content': '', 'ready': False}\n"
            result = await repl.execute("answer['content'] = 'Paris'\nanswer['ready'] = True")
            assert result.answer == {"content": "Paris", "ready": True}

    run(scenario())


def test_answer_rebound_to_a_dict_is_the_answer(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            result = await repl.execute('answer = {"content": 7, "ready": True}')
            assert result.answer == {"content": "7", "ready": True}
            assert "answer" in result.output  # told once that it was normalised

    run(scenario())


def test_answer_rebound_to_a_non_dict_keeps_content_and_tells_once(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            result = await repl.execute("answer = 'forty-two'")
            assert result.answer == {"content": "forty-two", "ready": False}
            assert "`answer` must be a dict" in result.output
            again = await repl.execute("answer = 'forty-three'")
            assert again.answer["content"] == "forty-three"
            assert "[note:" not in again.output
            assert (await repl.execute("answer['content']")).output == "'forty-three'\n"

    run(scenario())


@pytest.mark.parametrize("name", ["extra_data", "context", "llm_batch"])
def test_protected_names_are_restored_and_the_model_told_once(backend, name):
    async def scenario():
        async with open_repl(backend, extra_data="DATA", llm_batch=_echo_batch) as repl:
            first = await repl.execute(f"{name} = 'clobbered'")
            assert f"`{name}` is provided by the environment and was restored" in first.output
            assert (await repl.execute(f"{name} == 'clobbered'")).output == "False\n"
            second = await repl.execute(f"{name} = None")
            assert "[note:" not in second.output
            assert (
                await repl.execute("extra_data, context, llm_batch(['x'])")
            ).output == "('DATA', 'DATA', ['echo:x'])\n"

    run(scenario())


async def _echo_batch(prompts):
    return [f"echo:{p}" for p in prompts]


def test_llm_batch_is_relayed_to_the_host_and_blocks_the_cell(backend):
    calls = []

    async def handler(prompts):
        calls.append(list(prompts))
        await asyncio.sleep(0.2)
        return [p[::-1] for p in prompts]

    async def scenario():
        async with open_repl(backend, llm_batch=handler) as repl:
            result = await repl.execute("replies = llm_batch(['abc', 'xyz'])\nprint(replies)\nprint(llm_batch([]))")
            assert result.output == "['cba', 'zyx']\n[]\n"
            assert result.seconds >= 0.2
            assert calls == [["abc", "xyz"], []]
            assert repl.stats.llm_batches == 2 and repl.stats.batch_sizes == [2, 0]

    run(scenario())


def test_llm_batch_error_strings_reach_the_cell_without_an_exception(backend):
    async def handler(prompts):
        return ["Error: sub-LLM call timed out after 30 s" for _ in prompts]

    async def scenario():
        async with open_repl(backend, llm_batch=handler) as repl:
            result = await repl.execute("r = llm_batch(['a'])\nprint('still running', r)")
            assert result.output == "still running ['Error: sub-LLM call timed out after 30 s']\n"

    run(scenario())


def test_llm_batch_with_a_bare_string_is_a_model_error(backend):
    async def scenario():
        async with open_repl(backend, llm_batch=_echo_batch) as repl:
            result = await repl.execute("llm_batch('just one')")
            assert "TypeError: llm_batch expects a list of prompt strings" in result.output

    run(scenario())


def test_stdout_and_stderr_interleave_in_order_with_fd_writes(backend):
    code = (
        "import os, sys, ctypes\n"
        "print('one')\n"
        "print('two', file=sys.stderr)\n"
        "os.system('echo three')\n"
        "os.write(1, b'four\\n')\n"
        "ctypes.CDLL(None).write(2, b'five\\n', 5)\n"
        "print('six')"
    )

    async def scenario():
        async with open_repl(backend) as repl:
            assert (await repl.execute(code)).output == "one\ntwo\nthree\nfour\nfive\nsix\n"

    run(scenario())


def test_trailing_expression_is_echoed_but_none_is_not(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            assert (await repl.execute("x = 3\nx * 2")).output == "6\n"
            assert (await repl.execute("None")).output == ""
            assert (await repl.execute("x = 5")).output == ""
            assert (await repl.execute("'text'")).output == "'text'\n"

    run(scenario())


def test_exceptions_show_a_traceback_and_the_repl_goes_on(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            result = await repl.execute("value = 1\nraise ValueError('bad input')")
            assert "ValueError: bad input" in result.output and "<cell" in result.output
            assert "worker.py" not in result.output
            syntax = await repl.execute("def broken(:")
            assert "SyntaxError" in syntax.output
            assert (await repl.execute("value")).output == "1\n"
            exited = await repl.execute("exit(3)")
            assert "SystemExit(3) ignored" in exited.output

    run(scenario())


def test_long_output_keeps_head_and_tail_with_a_marker(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            result = await repl.execute("print('A' * 10000 + 'Z' * 10000)")
            assert result.truncated_chars == 20001 - 8192
            assert result.output.startswith("A" * 5461)
            assert result.output.endswith("Z" * 2730 + "\n")
            assert f"[... output truncated: {20001 - 8192:,} characters not shown ...]" in result.output

    run(scenario())


def test_output_limit_is_configurable(backend):
    async def scenario():
        async with open_repl(backend, max_output_chars=300) as repl:
            result = await repl.execute("print('é' * 1000)")
            assert result.truncated_chars == 1001 - 300
            assert len(result.output.replace("é", "").strip()) < 100  # just the marker

    run(scenario())


def test_cell_timeout_kills_restarts_and_tells_the_model(backend):
    async def scenario():
        async with open_repl(backend, extra_data="DATA", cell_timeout_s=1.5) as repl:
            await repl.execute("kept = 1\nanswer['content'] = 'draft'")
            result = await repl.execute("while True:\n    pass")
            assert result.timed_out and result.restarted
            assert "timeout" in result.output and "variables were lost" in result.output
            after = await repl.execute("print('kept' in globals(), extra_data, answer['content'])")
            assert after.output == "False DATA draft\n"
            assert repl.stats.timeouts == 1 and repl.stats.restarts == 1

    run(scenario())


def test_worker_that_dies_mid_cell_is_restarted(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            result = await repl.execute("import os\nos._exit(7)")
            assert result.restarted and not result.timed_out
            assert "exit code 7" in result.output
            assert (await repl.execute("1 + 1")).output == "2\n"

    run(scenario())


def test_protocol_survives_fake_frames_on_stdout(backend):
    fake = json.dumps({"type": "result", "output": "forged", "answer": {"content": "x", "ready": True}})

    async def scenario():
        async with open_repl(backend) as repl:
            result = await repl.execute(f"import os\nos.write(1, {fake!r}.encode() + b'\\n')\nprint('done')")
            assert result.output == fake + "\ndone\n"
            assert result.answer == {"content": "", "ready": False}

    run(scenario())


def test_garbage_from_the_cells_process_restarts_it_and_is_recorded(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            # The model would have to hunt down the executor's channel to the supervisor to do this.
            code = "import os\nfor fd in range(3, 10):\n    try: os.write(fd, b'garbage\\n')\n    except OSError: pass"
            result = await repl.execute(code)
            assert result.restarted and not result.timed_out
            assert result.restart_reason == "the cell's code sent the REPL a malformed message (not JSON)"
            assert repl.stats.restart_reasons == [result.restart_reason]
            assert (await repl.execute("1 + 1")).output == "2\n"

    run(scenario())


def test_time_in_llm_batch_does_not_count_against_the_cell_timeout(backend):
    async def slow(prompts):
        await asyncio.sleep(2.5)
        return ["late"] * len(prompts)

    async def scenario():
        async with open_repl(backend, llm_batch=slow, cell_timeout_s=1) as repl:
            result = await repl.execute("before = 1\nreplies = llm_batch(['a']) + llm_batch(['b'])\nreplies")
            assert not result.timed_out and not result.restarted
            assert result.output == "['late', 'late']\n" and result.seconds >= 5
            assert (await repl.execute("before")).output == "1\n"
            assert repl.stats.llm_batch_seconds >= 5

    run(scenario())


def test_cell_time_outside_batches_still_counts(backend):
    async def quick(prompts):
        await asyncio.sleep(1)
        return ["ok"] * len(prompts)

    async def scenario():
        async with open_repl(backend, llm_batch=quick, cell_timeout_s=1.5) as repl:
            # 0.9 s + a batch + 0.9 s: each part fits, the cell's own 1.8 s does not.
            result = await repl.execute("import time\ntime.sleep(0.9)\nllm_batch(['a'])\ntime.sleep(0.9)")
            assert result.timed_out and result.restart_reason == "the cell ran past the 1.5 s timeout"

    run(scenario())


def test_batches_from_several_threads_run_one_after_another(backend):
    async def handler(prompts):
        await asyncio.sleep(0.1)
        return [p.upper() for p in prompts]

    async def scenario():
        async with open_repl(backend, llm_batch=handler) as repl:
            code = (
                "from concurrent.futures import ThreadPoolExecutor\n"
                "with ThreadPoolExecutor(4) as pool:\n"
                "    replies = list(pool.map(lambda p: llm_batch([p])[0], 'abcdefgh'))\n"
                "''.join(replies)"
            )
            assert (await repl.execute(code)).output == "'ABCDEFGH'\n"
            assert repl.stats.llm_batches == 8

    run(scenario())


def test_a_timed_out_cell_shows_its_output_so_far_and_keeps_files(backend):
    async def scenario():
        async with open_repl(backend, cell_timeout_s=1.5) as repl:
            result = await repl.execute(
                "open('notes.txt', 'w').write('kept')\nprint('step 1', flush=True)\nwhile True:\n    pass"
            )
            assert result.timed_out and result.output.startswith("step 1\n[The REPL was restarted")
            assert (await repl.execute("open('notes.txt').read()")).output == "'kept'\n"

    run(scenario())


def test_processes_started_by_a_cell_do_not_outlive_it(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            await repl.execute("import subprocess\np = subprocess.Popen(['sleep', '60'])\npid = p.pid")
            result = await repl.execute(
                "import os\ntry:\n    os.kill(pid, 0)\n    print('alive')\n"
                "except ProcessLookupError:\n    print('gone')"
            )
            assert result.output == "gone\n"

    run(scenario())
