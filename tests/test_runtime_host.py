"""The remote-runtime path: the worker uploaded with runtime.write, started in the runtime.

No docker engine here, so this drives verifiers' own subprocess runtime through the same
RuntimeWorkerHost that docker, prime and modal runtimes use.
"""

import asyncio

from rlm_env.harness.compat import subprocess_runtime
from rlm_env.harness.runtime_host import RuntimeWorkerHost
from rlm_env.repl import ReplConfig, ReplSession


def test_worker_runs_in_a_verifiers_runtime_with_data_batch_and_timeout():
    async def handler(prompts):
        return [p.upper() for p in prompts]

    async def scenario():
        async with subprocess_runtime("rlm-env-test-runtime") as runtime:
            repl = ReplSession(RuntimeWorkerHost(runtime), ReplConfig(cell_timeout_s=1.5), llm_batch=handler)
            await repl.start({"numbers": [1, 2, 3]})
            assert (await repl.execute("sum(extra_data['numbers'])")).output == "6\n"
            assert (await repl.execute("llm_batch(['a', 'b'])")).output == "['A', 'B']\n"
            assert (await repl.execute("import os\n_ = os.system('echo from-shell')")).output == "from-shell\n"
            timed_out = await repl.execute("while True: pass")
            assert timed_out.timed_out and (await repl.execute("len(context['numbers'])")).output == "3\n"
            await repl.close()

    asyncio.run(scenario())
