// The report page: ablation charts, the rollout list and one page per rollout.
// Everything the model or the task wrote is put in the page as text (textContent), never as
// markup; the only markup inserted is pygments' escaped highlighting of code.
(function () {
  "use strict";

  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const ROWS = DATA.rows;
  const PAGE_SIZE = 100;   // rows drawn at once in the list
  const SHOW_CHARS = 3000; // characters of one text shown before "show all"
  const state = { mode: "", reward: "", stop: "", search: "", sort: "", page: 0 };
  let chartsDrawn = false;
  let searchTexts = null;  // lower-cased answer + code per row, built on the first search

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function num(value, digits) {
    if (value === undefined || value === null) return "-";
    if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
    return Number(value).toFixed(digits === undefined ? 1 : digits);
  }

  function rewardText(reward) {
    return reward === null || reward === undefined ? "not scored" : Number(reward).toFixed(3);
  }

  // A long text: the first SHOW_CHARS characters, and a button for the rest.
  function longText(text, cls) {
    text = text || "";
    const pre = el("pre", { class: cls });
    if (text.length <= SHOW_CHARS) {
      pre.textContent = text;
      return pre;
    }
    pre.textContent = text.slice(0, SHOW_CHARS);
    const label = () => `show all ${text.length.toLocaleString("en-US")} characters ` +
      `(${(text.length - SHOW_CHARS).toLocaleString("en-US")} more)`;
    const button = el("button", { class: "more expand" }, label());
    button.addEventListener("click", () => {
      const open = pre.textContent.length < text.length;
      pre.textContent = open ? text : text.slice(0, SHOW_CHARS);
      button.textContent = open ? "show less" : label();
    });
    return el("div", { class: "long" }, pre, button);
  }

  function box(cls, title, ...body) {
    return el("div", { class: `box ${cls}` }, el("div", { class: "title" }, ...title), el("div", { class: "body" }, ...body));
  }

  function dim(text) { return el("span", { class: "dim" }, text); }

  function tokensText(tokens) {
    if (!tokens) return null;
    const parts = [`${num(tokens.prompt, 0)} prompt + ${num(tokens.completion, 0)} completion tokens`];
    if (tokens.seconds !== null && tokens.seconds !== undefined) parts.push(`${num(tokens.seconds, 2)} s`);
    if (tokens.finish_reason) parts.push(`finish: ${tokens.finish_reason}`);
    return parts.join(" · ");
  }

  const bodyCache = new Map();
  function rolloutBody(id) {  // parsed on demand, from its own script element
    if (!bodyCache.has(id)) {
      const script = document.getElementById(`rollout-${id}`);
      if (!script) return null;
      if (bodyCache.size > 30) bodyCache.delete(bodyCache.keys().next().value);
      bodyCache.set(id, JSON.parse(script.textContent));
    }
    return bodyCache.get(id);
  }

  // ------------------------------------------------------------------ views and routing

  function show(name) {
    for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
    for (const link of document.querySelectorAll("nav a")) {
      link.classList.toggle("active", link.id === `nav-${name === "rollout" ? "rollouts" : name}`);
    }
  }

  function route() {
    const hash = location.hash || "#ablation";
    const match = hash.match(/^#rollout\/(\d+)$/);
    if (match) {
      show("rollout");
      renderRollout(Number(match[1]));
    } else if (hash === "#rollouts") {
      show("rollouts");
      renderList();
    } else {
      show("ablation");
      if (typeof Plotly === "undefined") requestAnimationFrame(() => setTimeout(loadPlotly, 0));
      else drawCharts();
    }
    window.scrollTo(0, 0);
  }

  // ------------------------------------------------------------------ ablation charts

  // plotly.js is 4.8 MB: run as a script of its own (a blob: URL, nothing fetched) after the
  // first paint of the ablation view, so the table, the list and the rollout pages never wait
  // for it; the charts are drawn when it is in.
  function loadPlotly() {
    const source = document.getElementById("plotly-source");
    if (!source) return;
    const script = document.createElement("script");
    script.src = URL.createObjectURL(new Blob([source.textContent], { type: "text/javascript" }));
    script.addEventListener("load", () => {
      if (!document.getElementById("view-ablation").hidden) drawCharts();
    });
    document.body.append(script);
    source.remove();
  }

  function drawCharts() {
    if (chartsDrawn || typeof Plotly === "undefined") return;
    chartsDrawn = true;
    const holder = document.getElementById("charts");
    for (const figure of DATA.charts) {
      const div = el("div", { class: "chart", id: `chart-${figure.id}` });
      holder.append(div);
      Plotly.newPlot(div, figure.data, {
        title: { text: figure.title, font: { size: 14 } },
        barmode: figure.stacked ? "stack" : "group",
        margin: { l: 50, r: 10, t: 40, b: 40 },
        legend: { orientation: "h", y: -0.15 },
        showlegend: figure.data.length > 1,
      }, { displaylogo: false, responsive: true });
    }
  }

  // ------------------------------------------------------------------ rollout list

  function fillSelect(id, values) {
    const select = document.getElementById(id);
    for (const value of values) select.append(el("option", { value }, value));
  }

  function matchesReward(reward) {
    switch (state.reward) {
      case "one": return reward !== null && reward >= 1;
      case "zero": return reward !== null && reward <= 0;
      case "partial": return reward !== null && reward > 0 && reward < 1;
      case "none": return reward === null;
      default: return true;
    }
  }

  const SORTS = {
    "reward-desc": (r) => (r.reward === null ? -Infinity : r.reward),
    "reward-asc": (r) => (r.reward === null ? Infinity : -r.reward),
    root_tokens: (r) => r.root_tokens || 0,
    sub_tokens: (r) => r.sub_tokens || 0,
    tokens: (r) => (r.root_tokens || 0) + (r.sub_tokens || 0),
    seconds: (r) => r.seconds || 0,
    turns: (r) => r.turns || 0,
  };

  function filteredRows() {
    const query = state.search.trim().toLowerCase();
    if (query && !searchTexts) searchTexts = ROWS.map((r) => r.search.toLowerCase());
    const rows = ROWS.filter((r) =>
      (state.mode === "" || DATA.runs[r.run].name === state.mode) &&
      (state.stop === "" || r.stop === state.stop) &&
      matchesReward(r.reward) &&
      (!query || searchTexts[r.id].includes(query)));
    const key = SORTS[state.sort];
    if (key) rows.sort((a, b) => key(b) - key(a) || a.id - b.id);
    return rows;
  }

  function renderList() {
    const rows = filteredRows();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE_SIZE;
    const body = document.querySelector("#rollout-list tbody");
    const fragment = document.createDocumentFragment();
    for (const r of rows.slice(start, start + PAGE_SIZE)) {
      const tr = el("tr", { "data-id": r.id, class: r.ok === false ? "failed" : null },
        el("td", {}, r.index), el("td", {}, DATA.runs[r.run].name), el("td", {}, `${r.task} / ${r.rollout}`),
        el("td", { class: r.reward === null ? "error" : null }, rewardText(r.reward)),
        el("td", { class: r.errors.length ? "error" : null }, r.stop + (r.errors.length ? ` (${r.errors.join(", ")})` : "")),
        el("td", {}, num(r.root_tokens, 0)), el("td", {}, num(r.sub_tokens, 0)), el("td", {}, num(r.turns, 0)),
        el("td", {}, num(r.sub_calls, 0)), el("td", {}, num(r.seconds)), el("td", { class: "preview" }, r.preview));
      tr.addEventListener("click", () => { location.hash = `#rollout/${r.id}`; });
      fragment.append(tr);
    }
    body.replaceChildren(fragment);
    document.getElementById("list-count").textContent = rows.length === ROWS.length
      ? `${ROWS.length} rollouts` : `${rows.length} of ${ROWS.length} rollouts`;
    const pager = document.getElementById("pager");
    pager.replaceChildren();
    if (pages > 1) {
      const go = (page) => () => { state.page = page; renderList(); window.scrollTo(0, 0); };
      pager.append(
        el("button", { id: "page-prev", disabled: state.page === 0, onclick: go(state.page - 1) }, "← previous"),
        el("span", {}, `page ${state.page + 1} of ${pages} (rows ${start + 1}-${Math.min(start + PAGE_SIZE, rows.length)})`),
        el("button", { id: "page-next", disabled: state.page >= pages - 1, onclick: go(state.page + 1) }, "next →"));
    }
  }

  function setUpFilters() {
    fillSelect("filter-mode", DATA.runs.map((run) => run.name));
    fillSelect("filter-stop", [...new Set(ROWS.map((r) => r.stop))].sort());
    const bind = (id, key, event) => {
      document.getElementById(id).addEventListener(event || "change", (e) => {
        state[key] = e.target.value;
        state.page = 0;
        renderList();
      });
    };
    bind("filter-mode", "mode");
    bind("filter-reward", "reward");
    bind("filter-stop", "stop");
    bind("filter-search", "search", "input");
    bind("sort", "sort");
  }

  // ------------------------------------------------------------------ one rollout

  function renderRollout(id) {
    const view = document.getElementById("view-rollout");
    const row = ROWS[id];
    const r = row && rolloutBody(id);
    if (!r) {
      view.replaceChildren(el("p", { class: "error" }, `No rollout ${id} in this report.`));
      return;
    }
    const order = filteredRows().map((x) => x.id);
    const at = order.indexOf(id);
    const link = (target, text) => el("a", { href: `#rollout/${target}` }, text);
    const nav = el("div", { class: "rollout-nav" }, el("a", { href: "#rollouts" }, "← list"),
      at > 0 ? link(order[at - 1], "previous") : null, at >= 0 && at < order.length - 1 ? link(order[at + 1], "next") : null,
      at >= 0 ? dim(`${at + 1} of ${order.length} in the list`) : dim("not in the filtered list"));

    const m = r.metrics || {};
    const facts = el("div", { class: "facts", id: "rollout-facts" },
      el("span", {}, el("b", {}, "rollout "), r.index), el("span", {}, el("b", {}, "mode "), DATA.runs[row.run].name),
      el("span", {}, el("b", {}, "task "), `${r.task_id} / rollout ${r.rollout}`),
      el("span", { class: r.reward === null ? "error" : null }, el("b", {}, "reward "), rewardText(r.reward)),
      el("span", {}, el("b", {}, "stop "), r.stop_reason + (r.stop_condition && r.stop_condition !== r.stop_reason ? ` (${r.stop_condition})` : "")),
      el("span", {}, el("b", {}, "turns "), num(m.root_turns, 0)), el("span", {}, el("b", {}, "sub-LLM calls "), num(m.sub_llm_calls, 0)),
      el("span", {}, el("b", {}, "root tokens "), num(row.root_tokens, 0)), el("span", {}, el("b", {}, "sub-LLM tokens "), num(row.sub_tokens, 0)),
      el("span", {}, el("b", {}, "time "), `${num(r.seconds)} s`));

    const parts = [nav, facts];
    if (r.errors.length) {
      parts.push(box("errors", [el("span", { class: "error" }, `${r.errors.length} error(s)`)],
        ...r.errors.map((e) => el("pre", { class: "error" }, `${e.type}: ${e.message}`))));
    }
    const system = DATA.system_prompts[r.system] || "";
    parts.push(box("prompt", ["prompt"],
      system ? el("details", {}, el("summary", {}, `system prompt (${system.length.toLocaleString("en-US")} characters)`), longText(system)) : null,
      longText(r.user)));
    for (const turn of r.turns) parts.push(renderTurn(turn));
    if (r.leftover_cells.length) {
      parts.push(box("turn", ["cells not matched to a turn"], ...r.leftover_cells.map((cell) => renderCell({ code_html: cell.code_html, cell }))));
    }
    if (r.leftover_sub_calls.length) {
      parts.push(box("turn", ["sub-LLM calls not matched to a turn"], renderSubCalls(r.leftover_sub_calls)));
    }
    parts.push(renderAnswer(r));
    view.replaceChildren(...parts);
    view.dataset.rollout = id;
  }

  function renderTurn(turn) {
    const body = [];
    if (turn.text) body.push(longText(turn.text));
    for (const unit of turn.units) body.push(renderCell(unit));
    for (const note of turn.notes) body.push(el("div", { class: "note-msg" }, el("div", { class: "label" }, "to the model"), longText(note)));
    if (turn.sub_calls.length) body.push(renderSubCalls(turn.sub_calls));
    if (!body.length) body.push(dim("(empty reply)"));
    return box("turn", [`turn ${turn.number} · root model`, dim(tokensText(turn.tokens) || "")], ...body);
  }

  function renderCell(unit) {
    const parts = [];
    if (unit.code_html !== undefined) {
      const pre = el("pre", { class: "code" });
      pre.innerHTML = unit.code_html;  // pygments' output: escaped
      parts.push(pre);
    } else {
      parts.push(el("pre", { class: "tool-call" }, `${unit.tool}(${unit.arguments})`));
    }
    const cell = unit.cell;
    if (cell) {
      const title = [`REPL output · ${num(cell.seconds, 2)} s`];
      const flags = [];
      if (cell.timed_out) flags.push("timed out");
      if (cell.restarted) flags.push("REPL restarted");
      if (cell.truncated_chars) flags.push(`cut by the REPL: ${cell.truncated_chars.toLocaleString("en-US")} characters not shown to the model`);
      parts.push(el("div", { class: `output${cell.timed_out ? " failed" : ""}` },
        el("div", { class: "title" }, title.join(" · "), flags.length ? el("span", { class: "mark truncated" }, ` · ${flags.join(" · ")}`) : null),
        longText(cell.output || "(no output)")));
    } else if (unit.result !== undefined) {
      const failed = /^Error:/.test(unit.result);
      parts.push(el("div", { class: `output${failed ? " failed" : ""}` },
        el("div", { class: "title" }, unit.tool && unit.tool !== "python" ? `result of ${unit.tool}` : "what the model got back"),
        longText(unit.result)));
    }
    return el("div", { class: "cell" }, ...parts);
  }

  function renderSubCalls(calls) {
    return el("div", { class: "sub-calls" },
      el("div", { class: "title" }, `${calls.length} sub-LLM call(s) (llm_batch) from this code`),
      ...calls.map(renderSubCall));
  }

  function renderSubCall(call) {
    const facts = [`#${call.index}`];
    if (call.depth !== undefined && call.depth !== null) facts.push(`depth ${call.depth}`);
    if (call.tokens) facts.push(`${num(call.tokens.prompt, 0)} + ${num(call.tokens.completion, 0)} tokens`);
    if (call.tokens && call.tokens.seconds !== null) facts.push(`${num(call.tokens.seconds, 2)} s`);
    if (call.turns > 1) facts.push(`${call.turns} turns`);
    if (call.tool_calls) facts.push(`${call.tool_calls} tool call(s)`);
    const preview = (call.prompt || "").replace(/\s+/g, " ").slice(0, 80);
    const details = el("details", { class: "sub-call" },
      el("summary", {}, facts.join(" · "), " — ", dim(preview), call.error ? el("span", { class: "error" }, ` · ${call.error}`) : null));
    // The body is built when first opened: a rollout can make hundreds of calls.
    details.addEventListener("toggle", () => {
      if (!details.open || details.dataset.built) return;
      details.dataset.built = "1";
      const body = el("div", { class: "body" },
        el("div", { class: "label" }, "prompt"), longText(call.prompt),
        el("div", { class: "label" }, "reply"), longText(call.reply, call.error ? "error" : null));
      if (call.conversation && call.conversation.length) {
        body.append(el("div", { class: "label" }, "conversation"));
        for (const message of call.conversation) {
          body.append(el("div", { class: `message ${message.role}` }, el("div", { class: "label" }, message.role),
            message.content ? longText(message.content) : null,
            ...(message.tool_calls || []).map((c) => el("pre", { class: "tool-call" }, `${c.name}(${c.arguments})`))));
        }
      }
      if (call.children && call.children.length) {
        body.append(el("div", { class: "children" }, renderSubCalls(call.children)));
      }
      details.append(body);
    });
    return details;
  }

  // Inserted and deleted characters are made visible, spaces and line breaks included.
  function visible(text) { return text.replace(/ /g, "·").replace(/\n/g, "↵\n"); }

  function renderDiff(answer, gold, ops) {
    const pre = el("pre", { class: "diff" });
    for (const [tag, a1, a2, g1, g2] of ops) {
      if (tag === "equal") pre.append(answer.slice(a1, a2));
      if (tag === "delete" || tag === "replace") pre.append(el("del", { title: "in the answer, not in the gold" }, visible(answer.slice(a1, a2))));
      if (tag === "insert" || tag === "replace") pre.append(el("ins", { title: "in the gold, missing from the answer" }, visible(gold.slice(g1, g2))));
    }
    return pre;
  }

  function renderAnswer(r) {
    const answer = r.answer || "";
    const rewards = Object.entries(r.rewards).map(([k, v]) => `${k} ${v === null ? "-" : Number(v).toFixed(3)}`).join(", ");
    const side = r.gold !== null && r.gold !== undefined
      ? el("div", { class: "side" },
        el("div", {}, el("div", { class: "label" }, `answer (${answer.length.toLocaleString("en-US")} characters)`), longText(answer || "(empty answer)")),
        el("div", {}, el("div", { class: "label" }, `gold (${r.gold.length.toLocaleString("en-US")} characters)`), longText(r.gold)))
      : el("div", {}, el("div", { class: "label" }, "answer"), longText(answer || "(empty answer)"));
    const parts = [side];
    if (r.diff) {
      const edits = r.diff.filter((op) => op[0] !== "equal").length;
      parts.push(el("div", { class: "label" }, edits ? `character diff: ${edits} edit(s)` : "character diff: identical"),
        edits ? el("div", { class: "legend diff" }, el("del", {}, "in the answer only"), " ", el("ins", {}, "in the gold only"),
          dim(" (spaces shown as ·, line breaks as ↵)")) : null,
        renderDiff(answer, r.gold, r.diff));
    }
    const metrics = el("table", { class: "kv metrics" },
      ...Object.entries(r.metrics).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "number" ? num(v, 3) : String(v)))));
    parts.push(el("details", {}, el("summary", {}, "metrics"), metrics));
    return box("answer", [`answer · reward ${rewardText(r.reward)}`, dim(rewards ? `(${rewards})` : "")], ...parts);
  }

  // ------------------------------------------------------------------ start

  setUpFilters();
  window.addEventListener("hashchange", route);
  route();
})();
