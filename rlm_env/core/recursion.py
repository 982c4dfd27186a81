"""Sub-LLMs that are RLMs themselves: `sub_llm.depth` above 1.

At depth D, each `llm_batch` prompt of an RLM at depth d < D - 1 starts a child RLM: the root's
loop (rlm_env.core.loop.run_rlm_loop) with a sandboxed REPL of its own, the prompt as its
`extra_data` (or as its user turn, `sub_llm.child_prompt`), its own `answer` and an
`llm_batch` of its own. At the last level (depth D), calls are plain sub-LLM calls again.
The root is depth 0; what its llm_batch starts is depth 1.

Children run under the rollout's budgets, shared with the root:

- sub-LLM calls: one count over the whole tree (`budgets.max_sub_llm_calls`);
- time: a child is one sub-LLM call, so `sub_llm.timeout_s` bounds it (its own llm_batch
  calls included), and the root's wall time bounds everything;
- live REPLs: at most `sub_llm.max_child_repls` child REPLs at once (see LiveRepls);
- each child has the root's turn and token budgets for its own loop.

A child's REPL is closed when the child finishes, fails or is cancelled (its call timed out,
the parent's cell timed out, the rollout stopped); whatever goes wrong comes back as an
"Error: ..." string in the parent's result list, like any sub-LLM failure.

The record: each child's calls carry request ids scoped to it (rlm_env.core.request_ids), so the
trace tells every call's depth; `records()` nests each child's own sub-LLM calls under its
record (`children`), `call_links()` gives the `subagent_call` edges from each call to the turn
that made it, and `depth_metrics()` the calls, tokens and REPL time per depth.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlm_env.core import rollout
from rlm_env.core.client import ChatClient, ChatReply
from rlm_env.core.loop import Budgets, LoopResult, run_rlm_loop
from rlm_env.core.prompts import PROMPT_IN_EXTRA_DATA, DataInfo, child_rlm_note, rlm_system_prompt
from rlm_env.core.sub_llm import SubLLMConfig, SubLLMPool, SubLLMRecord, SubLLMStats
from rlm_env.core.tools import Tool
from rlm_env.repl import ReplConfig, ReplInfraError, ReplSession
from rlm_env.repl.session import LlmBatchHandler, WorkerHost, WorkerProcess

OpenRepl = Callable[[LlmBatchHandler], ReplSession]
"""Builds an unstarted REPL session in the rollout's runtime, relaying llm_batch to the handler."""


class ScopedClient:
    """The rollout's sub-LLM client as one child RLM uses it: request ids get the child's scope,
    and the tokens of its calls are counted."""

    def __init__(self, client: ChatClient, scope: str, sent: list[str] | None = None) -> None:
        self.client = client
        self.scope = scope
        self.sent = sent
        """Where the ids of the calls made through this client are appended, when given."""
        self.prompt_tokens = 0
        self.completion_tokens = 0

    async def complete(self, *args: Any, request_id: str | None = None, **kwargs: Any) -> ChatReply:
        scoped = rollout.qualify(self.scope, request_id) if request_id else None
        if self.sent is not None and scoped:
            self.sent.append(scoped)
        reply = await self.client.complete(*args, request_id=scoped, **kwargs)
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        return reply


class ScopedFiles:
    """A child REPL's WorkerHost with the child's scope in its file names: on a remote runtime
    every REPL of the rollout writes into the runtime's one work dir."""

    def __init__(self, host: WorkerHost, scope: str) -> None:
        self.host = host
        self.prefix = scope.replace(rollout.SCOPE_SEPARATOR, "_")

    async def add_file(self, name: str, source: Path) -> str:
        return await self.host.add_file(f"{self.prefix}-{name}", source)

    async def start_worker(self) -> WorkerProcess:
        return await self.host.start_worker()

    async def stop_worker(self) -> None:
        await self.host.stop_worker()

    async def close(self) -> None:
        await self.host.close()


class LiveRepls:
    """The cap on child REPLs alive at once in one rollout, without deadlock.

    A child waits in its llm_batch for children of its own while its REPL stays alive, so a
    plain semaphore could fill every slot with waiting parents. A child at depth d therefore
    starts only while, after taking its slot, one slot per RLM level below it stays free: the
    deepest RLMs (whose calls are plain) can always start and finish, which frees slots for
    the level above, and so on up. This needs a cap of at least one slot per child level.
    """

    def __init__(self, cap: int, depth: int) -> None:
        self.cap = cap
        self.depth = depth
        self.live = 0
        self.peak = 0
        self._waiters: list[asyncio.Future] = []

    @contextlib.asynccontextmanager
    async def slot(self, level: int) -> AsyncIterator[None]:
        reserve = self.depth - 1 - level  # child RLM levels below this one
        while self.cap - self.live <= reserve:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        self.live += 1
        self.peak = max(self.peak, self.live)
        try:
            yield
        finally:
            # No await here: a release must not be lost to a second cancellation.
            self.live -= 1
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)


@dataclass
class ChildRun:
    """One child RLM, for the record."""

    scope: str
    depth: int
    turns: ScopedClient
    """The client of its own turns: their request ids and tokens."""
    pool: SubLLMPool
    """Its llm_batch."""
    request_ids: list[str] = field(default_factory=list)
    """Ids of its own turns, scoped."""
    repl: ReplSession | None = None
    result: LoopResult | None = None
    """None when it never finished (its REPL failed to start, or it was cancelled)."""


class TreePool(SubLLMPool):
    """The llm_batch of one RLM in a tree: its calls start child RLMs, or at the last level are
    plain sub-LLM calls; the call budget is the whole tree's."""

    def __init__(self, tree: "RecursionTree", client: ChatClient | ScopedClient, level: int, scope: str) -> None:
        super().__init__(client, tree.sub_config, tree.tools, tree.budgets.max_sub_llm_calls)  # type: ignore[arg-type]
        self.tree = tree
        self.level = level
        """The depth of the RLM this llm_batch belongs to."""
        self.scope = scope
        self.children: dict[int, ChildRun] = {}
        """Child RLMs by the index of the call that started them."""

    @property
    def budget_exhausted(self) -> bool:
        return self.tree.calls_exhausted()

    async def _converse(self, prompt: str, record: SubLLMRecord) -> str:
        if self.level + 1 >= self.tree.depth:
            return await super()._converse(prompt, record)
        return await self.tree.run_child(self, prompt, record)


class RecursionTree:
    """The sub-LLMs of one RLM rollout: the root's llm_batch and, at depth > 1, every child RLM."""

    def __init__(
        self,
        sub_config: SubLLMConfig,
        budgets: Budgets,
        repl_config: ReplConfig,
        open_repl: OpenRepl,
        tools: list[Tool],
        packages: list[str],
    ) -> None:
        self.sub_config = sub_config
        self.depth = sub_config.depth
        self.budgets = budgets
        self.child_budgets = budgets.model_copy(update={"max_wall_time_s": None})
        """A child's own loop: `sub_llm.timeout_s` (its call's timeout) and the root's wall time bound it."""
        self.repl_config = repl_config
        self.open_repl = open_repl
        self.tools = tools
        self.packages = packages
        self.live = LiveRepls(sub_config.max_child_repls, self.depth)
        self.pools: list[tuple[int, SubLLMPool]] = []
        self.children: list[ChildRun] = []
        self._client: ChatClient | None = None
        self._open: set[ReplSession] = set()

    @property
    def prompt_in_extra_data(self) -> bool:
        return self.sub_config.child_prompt == "extra_data"

    def root_pool(self, client: ChatClient) -> SubLLMPool:
        """The root's llm_batch; at depth 1 exactly today's plain sub-LLM pool."""
        self._client = client
        if self.depth == 1:
            pool = SubLLMPool(client, self.sub_config, self.tools, self.budgets.max_sub_llm_calls)
        else:
            pool = TreePool(self, client, level=0, scope="")
        self.pools.append((0, pool))
        return pool

    @property
    def root(self) -> SubLLMPool:
        return self.pools[0][1]

    def calls_exhausted(self) -> bool:
        limit = self.budgets.max_sub_llm_calls
        return limit is not None and sum(pool.stats.calls for _, pool in self.pools) >= limit

    def llm_batch_note(self) -> str:
        """What the root's system prompt adds about its llm_batch ('' at depth 1)."""
        return f"\n\n{child_rlm_note(self.prompt_in_extra_data)}" if self.depth > 1 else ""

    async def run_child(self, parent: TreePool, prompt: str, record: SubLLMRecord) -> str:
        """Run the child RLM for one llm_batch prompt; its answer, or "" with `record.error` set."""
        assert self._client is not None
        scope = rollout.child_scope(parent.scope, record.index)
        depth = parent.level + 1
        ids: list[str] = []
        child = ChildRun(
            scope,
            depth,
            ScopedClient(self._client, scope, sent=ids),
            TreePool(self, ScopedClient(self._client, scope), level=depth, scope=scope),
            ids,
        )
        parent.children[record.index] = child
        self.children.append(child)
        self.pools.append((depth, child.pool))
        async with self.live.slot(depth):
            repl = self.open_repl(child.pool.batch)
            repl.host = ScopedFiles(repl.host, scope)
            child.repl = repl
            self._open.add(repl)
            try:
                await repl.start(prompt if self.prompt_in_extra_data else None)
                user = PROMPT_IN_EXTRA_DATA if self.prompt_in_extra_data else prompt
                child.result = await run_rlm_loop(
                    child.turns,
                    repl,
                    child.pool,  # type: ignore[arg-type]
                    self._system_prompt(child, prompt),
                    user,
                    self.child_budgets,
                )
            except ReplInfraError as error:  # its worker would not start: the parent gets a string
                record.error = f"the child RLM's REPL failed: {error}"
                return ""
            finally:
                self._open.discard(repl)
                await repl.close()
        result = child.result
        record.turns = result.root_turns
        if result.stop_reason == "answer_ready":
            return result.answer
        record.error = _stop_message(result)
        return ""

    def _system_prompt(self, child: ChildRun, prompt: str) -> str:
        plain_below = child.depth + 1 >= self.depth  # its llm_batch calls plain sub-LLMs, which get the tools
        info = DataInfo.describe(prompt) if self.prompt_in_extra_data else None
        tools = [tool.schema() for tool in self.tools] if plain_below else []
        instructions = rlm_system_prompt(
            info, self.packages, tools, self.repl_config.max_output_chars, self.repl_config.cell_timeout_s
        )
        note = "" if plain_below else f"\n\n{child_rlm_note(self.prompt_in_extra_data)}"
        return f"{self.sub_config.system_prompt}\n\n{instructions}{note}"

    async def close(self) -> None:
        """Close any child REPL still open (each child closes its own; this covers a second cancellation)."""
        for repl in list(self._open):
            self._open.discard(repl)
            await repl.close()

    # ------------------------------------------------------------------ the record

    def total_stats(self) -> SubLLMStats:
        """Sub-LLM figures over the whole tree (child RLM turns count as sub-LLM tokens); the
        records are the root's llm_batch calls."""
        pools = [pool for _, pool in self.pools]
        return SubLLMStats(
            calls=sum(p.stats.calls for p in pools),
            batches=sum(p.stats.batches for p in pools),
            batch_sizes=[size for p in pools for size in p.stats.batch_sizes],
            prompt_tokens=sum(p.stats.prompt_tokens for p in pools) + sum(c.turns.prompt_tokens for c in self.children),
            completion_tokens=sum(p.stats.completion_tokens for p in pools)
            + sum(c.turns.completion_tokens for c in self.children),
            tool_calls=sum(p.stats.tool_calls for p in pools),
            tool_errors=sum(p.stats.tool_errors for p in pools),
            errors=sum(p.stats.errors for p in pools),
            records=self.root.stats.records,
        )

    def records(self) -> list[dict[str, Any]]:
        """Every sub-LLM call as a plain dict with its `depth` and scoped request ids; a child RLM's
        record also has its stop reason, REPL cells, figures and its own calls (`children`)."""
        return self._records(self.root, "", 0)

    def _records(self, pool: SubLLMPool, scope: str, level: int) -> list[dict[str, Any]]:
        children = pool.children if isinstance(pool, TreePool) else {}
        items = []
        for record in pool.stats.records:
            item = asdict(record)
            item["depth"] = level + 1
            item["parent_request_id"] = (
                rollout.qualify(scope, record.parent_request_id) if record.parent_request_id else None
            )
            child = children.get(record.index)
            if child is None:
                item["kind"] = "sub_llm"
                item["request_ids"] = [rollout.qualify(scope, rid) for rid in record.request_ids]
            else:
                result, repl = child.result, child.repl
                item.update(
                    kind="child_rlm",
                    request_ids=list(child.request_ids),
                    turns=len(child.request_ids),
                    stop_reason=result.stop_reason if result else None,
                    cells=[asdict(cell) for cell in result.cells] if result else [],
                    prompt_tokens=child.turns.prompt_tokens,
                    completion_tokens=child.turns.completion_tokens,
                    repl_calls=repl.stats.calls if repl else 0,
                    repl_seconds=repl.stats.seconds if repl else 0.0,
                    children=self._records(child.pool, child.scope, child.depth),
                )
            items.append(item)
        return items

    def call_links(self) -> list[tuple[str, str]]:
        """(the turn whose code made a call, the call's first request) for every call in the tree."""
        links = []

        def walk(items: list[dict]) -> None:
            for item in items:
                if item["parent_request_id"] and item["request_ids"]:
                    links.append((item["parent_request_id"], item["request_ids"][0]))
                walk(item.get("children", []))

        walk(self.records())
        return links

    def depth_metrics(self) -> dict[str, float]:
        """Calls, tokens and REPL time per depth ({} at depth 1, where sub_llm_* says it all)."""
        if self.depth == 1:
            return {}
        metrics: dict[str, float] = {}
        for depth in range(1, self.depth + 1):
            pools = [pool for level, pool in self.pools if level == depth - 1]
            children = [child for child in self.children if child.depth == depth]
            repls = [child.repl.stats for child in children if child.repl is not None]
            metrics.update(
                {
                    f"depth{depth}_calls": sum(p.stats.calls for p in pools),
                    f"depth{depth}_prompt_tokens": sum(p.stats.prompt_tokens for p in pools)
                    + sum(c.turns.prompt_tokens for c in children),
                    f"depth{depth}_completion_tokens": sum(p.stats.completion_tokens for p in pools)
                    + sum(c.turns.completion_tokens for c in children),
                    f"depth{depth}_errors": sum(p.stats.errors for p in pools),
                    f"depth{depth}_repl_calls": sum(stats.calls for stats in repls),
                    f"depth{depth}_repl_seconds": sum(stats.seconds for stats in repls),
                }
            )
        metrics["child_repls_peak"] = self.live.peak
        return {name: float(value) for name, value in metrics.items()}


def _stop_message(result: LoopResult) -> str:
    if result.error is not None:
        return f"the child RLM stopped on a {result.stop_reason}: {result.error}"
    so_far = f"; its answer so far: {result.answer}" if result.answer else ""
    return f"the child RLM stopped ({result.stop_reason}) before it set answer['ready']{so_far}"
