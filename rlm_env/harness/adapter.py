"""The verifiers v1 adapter: runs the RLM (or standard) loop in-process for one rollout.

Thin on purpose: it builds clients on the rollout's interception `endpoint` + `secret`,
starts the REPL in the rollout's runtime, calls rlm_env.core.loop, and writes what happened onto
the trace (final answer, stop reason, metrics, cells, sub-LLM calls, semantic edges).

Modes (same reward in each):
- `rlm`: the REPL scaffold; the input only in `extra_data`; tools only for sub-LLMs.
- `standard`: a plain chat model with the environment's normal tools (or none); the input
  inline in the prompt where the environment asks for it.
Tips (`env_tips = true`) append the task's hints to the prompt in <env_tips> tags.
"""

import json
import logging
from dataclasses import asdict
from typing import Literal

import verifiers.v1 as vf
from pydantic import ConfigDict, field_validator

from rlm_env.core.client import ChatClient
from rlm_env.core.errors import INFRA_ERRORS, as_rollout_error
from rlm_env.core.loop import INFRA_STOPS, Budgets, LoopResult, ProtocolConfig, run_chat_loop, run_rlm_loop
from rlm_env.core.prompts import PYTHON_TOOL_NAME, DataInfo, python_tool_schema, rlm_system_prompt, with_env_tips
from rlm_env.core.recursion import RecursionTree
from rlm_env.core.rollout import RolloutInfo, is_sub_llm
from rlm_env.core.sub_llm import SubLLMConfig, SubLLMPool
from rlm_env.core.tools import Tool
from rlm_env.harness import compat
from rlm_env.harness.metrics import rollout_metrics
from rlm_env.harness.prompt_source import place_input
from rlm_env.harness.runtime_host import RuntimeWorkerHost
from rlm_env.harness.task_data import RLMTaskData, load_extra_data, load_tools
from rlm_env.repl import LocalSandbox, ReplConfig, ReplSession, SandboxConfig

logger = logging.getLogger(__name__)


class RLMHarnessConfig(vf.HarnessConfig):
    """Every knob of the RLM scaffold; nested sections map to TOML tables."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    mode: Literal["rlm", "standard"] = "rlm"
    """`rlm`: the REPL scaffold. `standard`: a plain LLM with the environment's normal tools."""
    env_tips: bool = False
    """Append the environment's strategy hints to the prompt inside <env_tips> tags."""
    extra_data_source: str = "task"
    """What the REPL's `extra_data` holds in RLM mode, on any taskset (rlm_env.harness.prompt_source):
    `task` = the rlm-env task's own input (plain `vf.TaskData` has none); `none`; `prompt` = the
    whole prompt text, the model getting a short instruction instead; any other name = that
    field of the task data (the prompt stays)."""
    train_sub_llms: bool = False
    """Whether sub-LLM calls are training samples; when false their tokens are masked out."""
    budgets: Budgets = Budgets()
    """Limits that end a rollout (turns, tokens, sub-LLM calls, wall time)."""
    protocol: ProtocolConfig = ProtocolConfig()
    """RLM mode: stop sequences, answers stated in text, a worked example, tips as code (aids for small models)."""
    sub_llm: SubLLMConfig = SubLLMConfig()
    """How `llm_batch` calls sub-LLMs (model, concurrency, timeout, tool turns)."""
    repl: ReplConfig = ReplConfig()
    """Output cap and cell timeout of the REPL."""
    sandbox: SandboxConfig = SandboxConfig()
    """Isolation and resource limits of the REPL worker."""
    model_retries: int = 2
    """Retries of a failed model request (by the OpenAI client) before it counts as a provider error."""

    @field_validator("extra_data_source")
    @classmethod
    def _source_is_a_name(cls, source: str) -> str:
        if not source.isidentifier():
            raise ValueError(f"{source!r} is neither 'task', 'none', 'prompt' nor a task-data field name")
        return source


class RLMHarness(vf.Harness[RLMHarnessConfig]):
    """Recursive Language Model scaffold (and its standard-LLM baseline) for any v1 taskset."""

    APPENDS_SYSTEM_PROMPT = True
    NEEDS_CONTAINER = False  # the REPL brings its own sandbox on the host

    async def launch(self, ctx, trace, runtime, endpoint, secret, mcp_urls, data) -> vf.ProgramResult:
        task = RLMTaskData.model_validate(data.model_dump())
        system, prompt = self.resolve_prompt(data)
        prompt_text = prompt if isinstance(prompt, str) else data.prompt_text
        task, prompt_text = place_input(self.config.extra_data_source, self.config.mode, data, task, prompt_text)
        if self.config.env_tips:
            code_tips = self.config.mode == "rlm" and self.config.protocol.tips_as_code and task.env_tips_code
            prompt_text = with_env_tips(prompt_text, task.env_tips_code if code_tips else task.env_tips)
        client = ChatClient(endpoint, secret, ctx.model, max_retries=self.config.model_retries, tag_requests=True)
        run = _Run(self.config, trace, client)
        try:
            if self.config.mode == "rlm":
                result = await run.rlm(runtime, task, system, prompt_text)
            else:
                result = await run.standard(runtime, task, system, prompt_text)
        except INFRA_ERRORS as error:  # before or after the loop: REPL start or close, tool set-up
            raise as_rollout_error(error) from error
        finally:
            await run.close_clients()
        run.record(result)
        if result.stop_reason in INFRA_STOPS:
            # Verifiers records the typed error on the trace and leaves the rollout unscored (rlm_env.core.errors).
            if isinstance(result.cause, INFRA_ERRORS):
                raise as_rollout_error(result.cause) from result.cause
            raise result.cause  # a ProviderError, verifiers' own type
        return vf.ProgramResult(exit_code=0, stdout=result.answer, stderr="")

    @vf.metric
    async def rlm(self, trace: vf.Trace) -> dict[str, float]:
        """Loop, sub-LLM and REPL metrics recorded by launch (see rlm_env.harness.metrics)."""
        info = RolloutInfo.of(trace)
        return dict(info.metrics) if info is not None else {}


class _Run:
    """One rollout's clients, REPL and records."""

    def __init__(self, config: RLMHarnessConfig, trace: vf.Trace, client: ChatClient) -> None:
        self.config = config
        self.trace = trace
        self.client = client
        self.repl: ReplSession | None = None
        self.pool: SubLLMPool | None = None
        self.tree: RecursionTree | None = None

    async def close_clients(self) -> None:
        await self.client.close()
        if self.pool is not None:
            await self.pool.client.close()

    def open_repl(self, runtime, llm_batch=None) -> ReplSession:
        if runtime.type == "subprocess":
            host = LocalSandbox(self.config.sandbox, spawn=compat.process_starter(runtime))
        else:
            host = RuntimeWorkerHost(runtime, self.config.sandbox)
        return ReplSession(host, self.config.repl, llm_batch=llm_batch)

    async def rlm(self, runtime, task: RLMTaskData, system: str | None, prompt: str) -> LoopResult:
        tools = load_tools(task)
        self.tree = RecursionTree(
            self.config.sub_llm,
            self.config.budgets,
            self.config.repl,
            lambda llm_batch: self.open_repl(runtime, llm_batch),
            tools,
            task.repl_packages,
        )
        self.pool = self.tree.root_pool(self.client.with_model(self.config.sub_llm.model))
        self.repl = self.open_repl(runtime, self.pool.batch)
        extra_data = load_extra_data(task)
        info = DataInfo.describe(extra_data, task.data_preview_chars)
        self.repl.start_soon(extra_data)  # the worker starts while the first request is out
        del extra_data  # the worker gets it from a file; big contexts should not stay in the host
        instructions = rlm_system_prompt(
            info,
            task.repl_packages,
            [t.schema() for t in tools],
            self.config.repl.max_output_chars,
            self.config.repl.cell_timeout_s,
            worked_example=self.config.protocol.worked_example,
            code_blocks=not self.config.protocol.python_tool,
        )
        system_prompt = f"{system}\n\n{instructions}" if system else instructions
        system_prompt += self.tree.llm_batch_note()
        try:
            return await run_rlm_loop(
                self.client,
                self.repl,
                self.pool,
                system_prompt,
                prompt,
                self.config.budgets,
                self.config.protocol,
                data=info,
            )
        finally:
            await self.repl.close()
            await self.tree.close()

    async def standard(self, runtime, task: RLMTaskData, system: str | None, prompt: str) -> LoopResult:
        tools = load_tools(task)
        if task.standard_inline_data:
            extra_data = load_extra_data(task)
            data_text = extra_data if isinstance(extra_data, str) else json.dumps(extra_data)
            prompt = f"{data_text}\n\n{prompt}"
        if task.standard_python_tool:
            self.repl = self.open_repl(runtime)
            await self.repl.start()
            tools = [*tools, self._python_tool(self.repl)]
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        try:
            return await run_chat_loop(self.client, messages, tools, self.config.budgets)
        finally:
            if self.repl is not None:
                await self.repl.close()

    @staticmethod
    def _python_tool(repl: ReplSession) -> Tool:
        schema = python_tool_schema("Run Python code (a persistent session) and return what it prints.")["function"]

        async def python(code: str) -> str:
            return (await repl.execute(code)).output or "(no output)"

        return Tool(PYTHON_TOOL_NAME, schema["description"], schema["parameters"], python)

    def record(self, result: LoopResult) -> None:
        """Write the answer, stop reason, metrics and records onto the trace."""
        self.trace.root_reply = result.answer
        repl_stats = self.repl.stats if self.repl else None
        sub_stats = self.tree.total_stats() if self.tree else None
        RolloutInfo(
            mode=self.config.mode,
            env_tips=self.config.env_tips,
            stop_reason=result.stop_reason,
            error=result.error,
            metrics={
                **rollout_metrics(result, repl_stats, sub_stats),
                **(self.tree.depth_metrics() if self.tree else {}),
            },
            cells=tuple(asdict(cell) for cell in result.cells),
            sub_llm_calls=tuple(self.tree.records() if self.tree else ()),
        ).write(self.trace)
        if sub_stats is not None and sub_stats.records:
            self._link_sub_calls(sub_stats)

    def _link_sub_calls(self, sub_stats) -> None:
        edges = [
            vf.SemanticEdge(source_request_id=source, target_request_id=target, type="subagent_call")
            for source, target in self.tree.call_links()
        ]
        recorded = {call.acp.request_id for call in self.trace.calls if call.acp is not None and call.node is not None}
        edges = [e for e in edges if e.source_request_id in recorded and e.target_request_id in recorded]
        if edges:
            self.trace.add_semantic_edges(vf.SemanticEdgeSet(edges=edges))
        if not self.config.train_sub_llms:
            for call in self.trace.calls:
                if call.acp is not None and call.node is not None and is_sub_llm(call.acp.request_id):
                    node = self.trace.nodes[call.node]
                    node.mask = compat.masked_out(node.mask)
