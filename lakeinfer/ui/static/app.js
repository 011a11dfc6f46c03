// The workspace page: views switched by the URL hash, each filled from the JSON API.
import { createEditor } from "./editor.js";

const $ = (selector, root = document) => root.querySelector(selector);
const PAGE = 100;
const STORAGE_KEY = "lakeinfer.editor";
const DEFAULT_SQL =
  "-- Ctrl+Enter runs every statement; results of the last one show below.\n" +
  "SHOW TABLES;\n";

// -- helpers ---------------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options = {}) {
  const init = { ...options, headers: { Accept: "application/json", ...(options.headers || {}) } };
  if (options.body !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

const fmt = {
  int: (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US")),
  num: (n, digits = 1) => (n === null || n === undefined ? "–" :
    Number(n).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })),
  cost: (n) => (n === null || n === undefined ? "–" : `$${Number(n).toFixed(n < 0.01 ? 5 : 4)}`),
  secs: (n) => (n === null || n === undefined ? "–" : n < 60 ? `${Number(n).toFixed(1)} s` :
    `${Math.floor(n / 60)} min ${Math.round(n % 60)} s`),
  when: (text) => (text ? String(text).replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, "") : "–"),
};

const NUMERIC = /^(TINYINT|SMALLINT|INT|BIGINT|FLOAT|DOUBLE|DECIMAL)/;

/** A value as the grid shows it: NULL distinct, STRUCT/ARRAY as compact readable literals. */
function renderValue(value, depth = 0) {
  if (value === null || value === undefined) return el("span", { class: "null" }, "NULL");
  if (Array.isArray(value)) {
    const node = el("span", { class: "nested" }, el("span", { class: "p" }, "["));
    value.forEach((item, i) => {
      if (i) node.append(el("span", { class: "p" }, ", "));
      node.append(renderValue(item, depth + 1));
    });
    node.append(el("span", { class: "p" }, "]"));
    return node;
  }
  if (typeof value === "object") {
    const node = el("span", { class: "nested" }, el("span", { class: "p" }, "{"));
    Object.entries(value).forEach(([key, item], i) => {
      if (i) node.append(el("span", { class: "p" }, ", "));
      node.append(el("span", { class: "k" }, key), el("span", { class: "p" }, ": "), renderValue(item, depth + 1));
    });
    node.append(el("span", { class: "p" }, "}"));
    return node;
  }
  if (depth > 0 && typeof value === "string") return el("span", { class: "s" }, JSON.stringify(value));
  return document.createTextNode(String(value));
}

function textOf(value) {
  if (value === null || value === undefined) return "NULL";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/**
 * A results grid: page = {columns:[{name,type}], rows, offset, total}; fetchPage(offset) gets
 * another page (omit for a single page).
 */
function renderGrid(container, page, fetchPage) {
  container.replaceChildren();
  if (!page.columns.length) {
    container.append(el("p", { class: "empty" }, "The statement returned no columns."));
    return;
  }
  const head = el("tr", {}, el("th", { class: "rownum" }, "#"),
    page.columns.map((c) => el("th", { title: `${c.name} ${c.type}`, class: NUMERIC.test(c.type) ? "num" : "" }, c.name, el("span", { class: "type" }, c.type))));
  const body = el("tbody");
  page.rows.forEach((row, r) => {
    body.append(el("tr", {}, el("td", { class: "rownum" }, page.offset + r + 1),
      row.map((value, c) => {
        const numeric = NUMERIC.test(page.columns[c].type) && value !== null;
        return el("td", {
          class: numeric ? "num" : "", title: textOf(value),
          onclick: (event) => event.currentTarget.classList.toggle("expanded"),
        }, renderValue(value));
      })));
  });
  const table = el("table", { class: "grid results-grid", "data-testid": "grid" }, el("thead", {}, head), body);
  const first = page.total ? page.offset + 1 : 0;
  const last = page.offset + page.rows.length;
  const pager = el("div", { class: "pager", "data-testid": "pager" },
    el("span", { "data-testid": "row-range" }, `Rows ${fmt.int(first)}–${fmt.int(last)} of ${fmt.int(page.total)}`),
    el("span", { class: "spacer" }));
  if (fetchPage && page.total > page.rows.length) {
    pager.append(
      el("button", { class: "small", "data-testid": "prev-page", disabled: page.offset === 0,
        onclick: () => fetchPage(Math.max(0, page.offset - PAGE)) }, "‹ Previous"),
      el("button", { class: "small", "data-testid": "next-page", disabled: last >= page.total,
        onclick: () => fetchPage(page.offset + PAGE) }, "Next ›"));
  }
  container.append(el("div", { class: "scroll" }, table), pager);
}

/** A plain table of records (history, jobs, streams). */
function renderRecords(container, rows, columns, { onRow, emptyText, testid } = {}) {
  container.replaceChildren();
  if (!rows.length) {
    container.append(el("p", { class: "empty", "data-testid": "empty" }, emptyText || "Nothing yet."));
    return;
  }
  const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : "" }, c.label)));
  const body = el("tbody", {}, rows.map((row) => el("tr", {
    class: onRow ? "clickable" : "", onclick: onRow ? (e) => onRow(row, e.currentTarget) : undefined,
  }, columns.map((c) => {
    const value = c.value ? c.value(row) : row[c.key];
    return el("td", { class: c.num ? "num" : c.class || "", title: c.title ? c.title(row) : undefined },
      value instanceof Node ? value : value === null || value === undefined ? el("span", { class: "null" }, "NULL") : String(value));
  }))));
  container.append(el("div", { class: "scroll" }, el("table", { class: "grid", "data-testid": testid }, el("thead", {}, head), body)));
}

const badge = (text) => el("span", { class: `badge ${text || ""}` }, text || "–");

// -- views -----------------------------------------------------------------------------------
const views = {};
let editor;
let info = {};

function show(name) {
  const [view, ...rest] = (name || "sql").split("/");
  const target = views[view] ? view : "sql";
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${target}`;
  for (const link of document.querySelectorAll(".nav a")) link.classList.toggle("active", link.dataset.view === target);
  views[target].open?.(decodeURIComponent(rest.join("/")));
}

// SQL editor and runs
const sqlView = {
  run: null,
  source: null,
  selected: 0,
  async start() {
    const text = editor.getValue();
    editor.clearErrors();
    $("#error").hidden = true;
    $("#progress").hidden = true;
    try {
      const run = await api("/api/runs", { body: { sql: text } });
      this.watch(run);
    } catch (error) {
      this.showError({ message: error.message });
    }
  },
  watch(run) {
    this.run = run;
    document.body.dataset.run = run.id;
    this.selected = null;
    $("#run").disabled = true;
    $("#cancel").hidden = false;
    $("#results").replaceChildren();
    $("#statements").replaceChildren();
    $("#ai-summary").hidden = true;
    this.update(run);
    this.source?.close();
    const source = new EventSource(`/api/runs/${run.id}/events`);
    this.source = source;
    source.addEventListener("progress", (event) => this.update(JSON.parse(event.data)));
    source.addEventListener("done", (event) => { source.close(); this.finish(JSON.parse(event.data)); });
    source.onerror = () => {
      // the connection dropped: fall back to asking once a second
      source.close();
      const poll = async () => {
        const snapshot = await api(`/api/runs/${run.id}`).catch(() => null);
        if (!snapshot) return;
        if (snapshot.state === "running") { this.update(snapshot); setTimeout(poll, 1000); }
        else this.finish(snapshot);
      };
      poll();
    };
  },
  async cancel() {
    if (!this.run) return;
    $("#cancel").disabled = true;
    $("#run-state").textContent = "cancelling…";
    await api(`/api/runs/${this.run.id}/cancel`, { body: {} }).catch(() => {});
  },
  update(snapshot) {
    const p = snapshot.progress;
    const state = $("#run-state");
    state.className = `run-state ${snapshot.state}`;
    const done = snapshot.statements.length;
    state.textContent = snapshot.state === "running"
      ? `running${done ? ` (statement ${done + 1})` : ""}… ${fmt.secs(snapshot.seconds)}`
      : `${snapshot.state} in ${fmt.secs(snapshot.seconds)}`;
    const box = $("#progress");
    if (p.total > 0 || snapshot.state === "running" && snapshot.seconds > 0.4) {
      box.hidden = false;
      box.className = `progress ${snapshot.state}`;
      $("#bar-fill").style.width = p.total ? `${Math.min(100, (100 * p.done) / p.total)}%` : "0";
      $("#m-rows").textContent = `${fmt.int(p.done)} / ${fmt.int(p.total)}`;
      $("#m-rate").textContent = fmt.num(p.rows_per_s);
      $("#m-tokens").textContent = `${fmt.int(p.prompt_tokens)} / ${fmt.int(p.completion_tokens)}`;
      $("#m-cost").textContent = fmt.cost(p.cost_usd);
      $("#m-cached").textContent = fmt.int(p.cached);
      $("#m-retries").textContent = fmt.int(p.retries);
      $("#m-errors").textContent = fmt.int(p.errors);
      $("#m-elapsed").textContent = fmt.secs(p.elapsed_s || snapshot.seconds);
    } else {
      box.hidden = true;
    }
  },
  finish(snapshot) {
    this.run = snapshot;
    this.update(snapshot);
    $("#run").disabled = false;
    $("#cancel").hidden = true;
    $("#cancel").disabled = false;
    if (snapshot.error) this.showError(snapshot.error, snapshot.state === "cancelled");
    const count = snapshot.statements.length;
    if (count > 1) $("#run-state").textContent += ` · ${count} statements`;
    const tabs = $("#statements");
    tabs.replaceChildren();
    const statements = snapshot.statements;
    if (statements.length > 1) {
      statements.forEach((s, i) => tabs.append(el("button", {
        "data-index": i, title: s.sql,
        onclick: () => this.select(i),
      }, `${i + 1} · ${s.sql.split(/\s+/).slice(0, 3).join(" ")}${s.is_query || s.rows ? ` (${fmt.int(s.rows)})` : ""}`)));
    }
    // the last statement that returned rows, else the last one
    let pick = statements.length - 1;
    for (let i = statements.length - 1; i >= 0; i--) if (statements[i].columns) { pick = i; break; }
    if (pick >= 0) this.select(pick).then(() => { document.body.dataset.finished = snapshot.id; });
    else document.body.dataset.finished = snapshot.id;
    if (snapshot.statements.some((s) => /^\s*(create|drop|use|alter)\b/i.test(s.sql))) refreshCompletion();
  },
  async select(index, offset = 0) {
    this.selected = index;
    for (const tab of $("#statements").children) tab.classList.toggle("active", Number(tab.dataset.index) === index);
    const statement = this.run.statements[index];
    const summary = $("#ai-summary");
    // a Databricks name answered by the embedded stand-in says so, as the CLI does
    const standIns = Object.entries(this.run.stand_ins || {}).map(
      ([endpoint, model]) => `${endpoint} is answered by the embedded model ${model}`);
    const text = [statement.ai, ...standIns].filter(Boolean).join(" · ");
    summary.hidden = !text;
    summary.textContent = text;
    const page = await api(`/api/runs/${this.run.id}/statements/${index}?offset=${offset}&limit=${PAGE}`);
    renderGrid($("#results"), page, (next) => this.select(index, next));
  },
  showError(error, notice = false) {
    const box = $("#error");
    box.hidden = false;
    box.classList.toggle("notice", notice);
    box.replaceChildren();
    if (error.line) {
      box.append(el("span", { class: "where", "data-testid": "error-where" }, `line ${error.line}, column ${error.column}:`));
      editor.showError(error.line, error.column, error.message);
    }
    box.append(error.message);
  },
};
views.sql = {
  open() { editor?.focus(); },
};

// Catalog
let catalogTree = [];
views.catalog = {
  async open(name) {
    catalogTree = await api("/api/catalog");
    const tree = $("#tree");
    tree.replaceChildren();
    for (const catalog of catalogTree) {
      const node = el("details", { open: catalog.name === "main" || (name || "").startsWith(`${catalog.name}.`) },
        el("summary", {}, catalog.name, el("span", { class: "kind" }, "catalog")));
      if (!catalog.schemas.length) node.append(el("div", { class: "none" }, "no schemas"));
      for (const schema of catalog.schemas) {
        const full = `${catalog.name}.${schema.name}`;
        const inner = el("details", { open: schema.tables.length + schema.views.length > 0 && (catalog.name === "main" || (name || "").startsWith(`${full}.`)) },
          el("summary", {}, schema.name, el("span", { class: "kind" }, `${schema.tables.length + schema.views.length}`)));
        for (const table of schema.tables) inner.append(this.leaf(`${full}.${table}`, table, "table"));
        for (const view of schema.views) inner.append(this.leaf(`${full}.${view}`, view, "view"));
        if (!schema.tables.length && !schema.views.length) inner.append(el("div", { class: "none" }, "no tables"));
        node.append(inner);
      }
      tree.append(node);
    }
    if (name) this.table(name);
  },
  leaf(full, label, kind) {
    return el("button", { class: "leaf", "data-table": full, title: full,
      onclick: () => { location.hash = `#catalog/${encodeURIComponent(full)}`; } },
      label, kind === "view" ? el("span", { class: "kind" }, "view") : null);
  },
  async table(name) {
    for (const leaf of document.querySelectorAll(".tree .leaf")) leaf.classList.toggle("active", leaf.dataset.table === name);
    const detail = $("#table-detail");
    let data;
    try {
      data = await api(`/api/tables/${encodeURIComponent(name)}`);
    } catch (error) {
      detail.replaceChildren(el("div", { class: "error-box" }, error.message));
      return;
    }
    const query = () => {
      editor.setValue(`SELECT * FROM ${data.name} LIMIT 100;\n`);
      location.hash = "#sql";
    };
    if (data.kind === "VIEW") {
      detail.replaceChildren(el("h2", {}, data.name), el("div", { class: "facts" }, badge("VIEW")),
        el("pre", { class: "panel mono", style: "padding:10px;white-space:pre-wrap" }, data.definition),
        el("div", { class: "row-actions" }, el("button", { onclick: query }, "Query in editor")));
      return;
    }
    const body = el("div", { class: "panel", "data-testid": "table-tab" });
    const tabs = el("div", { class: "subtabs" });
    const tab = (label, render) => {
      const button = el("button", { "data-tab": label.toLowerCase(), onclick: () => {
        for (const b of tabs.children) b.classList.toggle("active", b === button);
        render();
      } }, label);
      tabs.append(button);
      return button;
    };
    const columns = () => renderRecords(body, data.columns, [
      { label: "Column", key: "name", class: "mono" },
      { label: "Type", key: "type", class: "mono" },
      { label: "Nullable", value: (c) => (c.nullable ? "yes" : "no") },
      { label: "Comment", value: (c) => c.comment || "" },
    ], { testid: "columns" });
    const historyTab = () => renderRecords(body, data.history, [
      { label: "Version", key: "version", num: true },
      { label: "Committed (UTC)", value: (h) => fmt.when(h.timestamp) },
      { label: "Operation", key: "operation" },
      { label: "Rows added", value: (h) => fmt.int(h.metrics.num_added_rows ?? h.metrics.num_inserted_rows ?? null), num: true },
      { label: "Files +/−", value: (h) => `${h.metrics.num_added_files ?? 0} / ${h.metrics.num_removed_files ?? 0}` },
      { label: "Parameters", value: (h) => JSON.stringify(h.parameters), class: "mono" },
    ], { testid: "versions", onRow: (h) => { preview(h.version); previewButton.click(); } });
    let version = null;
    const preview = (v = version) => { version = v; };
    const previewTab = async () => {
      const select = el("select", { "data-testid": "version", onchange: (e) => { version = e.target.value === "" ? null : Number(e.target.value); previewTab(); } },
        el("option", { value: "" }, `latest (version ${data.version})`),
        data.history.map((h) => el("option", { value: h.version, selected: version === h.version }, `version ${h.version}`)));
      const grid = el("div");
      body.replaceChildren(el("div", { class: "pager", style: "border-top:0;border-bottom:1px solid var(--line)" }, "Time travel:", select), grid);
      const page = await api(`/api/tables/${encodeURIComponent(data.name)}/rows${version === null ? "" : `?version=${version}`}`);
      renderGrid(grid, page);
    };
    tab("Columns", columns);
    tab("History", historyTab);
    const previewButton = tab("Preview", previewTab);
    detail.replaceChildren(
      el("h2", { "data-testid": "table-name" }, data.name),
      el("div", { class: "facts" },
        el("span", { class: "badge", "data-testid": "row-count" }, `${fmt.int(data.rows)} rows`),
        el("span", { class: "badge", "data-testid": "table-version" }, `version ${data.version}`),
        el("span", { class: "badge" }, `${data.columns.length} columns`),
        data.partition_columns?.length ? el("span", { class: "badge" }, `partitioned by ${data.partition_columns.join(", ")}`) : null,
        data.comment ? el("span", { class: "comment" }, data.comment) : null),
      el("div", { class: "row-actions" }, el("button", { onclick: query }, "Query in editor")),
      tabs, body);
    tabs.children[0].click();
  },
};

// Query history
views.history = {
  async open() {
    const rows = await api("/api/history");
    renderRecords($("#history"), rows, [
      { label: "", value: (r) => el("button", { class: "small", "data-testid": "reopen", onclick: (e) => {
        e.stopPropagation();
        editor.setValue(`${r.statement.trim()}${r.statement.trim().endsWith(";") ? "" : ";"}\n`);
        location.hash = "#sql";
      } }, "Open") },
      { label: "Started (UTC)", value: (r) => fmt.when(r.started_at).slice(5), title: (r) => fmt.when(r.started_at) },
      { label: "Status", value: (r) => badge(r.status) },
      { label: "Statement", value: (r) => r.statement, class: "stmt",
        title: (r) => `${r.statement}\n\nendpoints: ${(r.endpoints || []).join(", ")}${r.error ? `\n${r.error}` : ""}` },
      { label: "Duration", value: (r) => fmt.secs(r.duration_s), num: true },
      { label: "Cost", value: (r) => fmt.cost(r.estimated_cost_usd), num: true },
      { label: "Tokens in / out", value: (r) => `${fmt.int(r.prompt_tokens)} / ${fmt.int(r.completion_tokens)}`, num: true },
      { label: "Requests", value: (r) => fmt.int(r.requests), num: true },
      { label: "Calls · hits · errors", value: (r) => `${fmt.int(r.calls)} · ${fmt.int(r.cache_hits)} · ${fmt.int(r.errors)}`, num: true },
    ], { testid: "history", emptyText: "No AI statements yet: statements that call a model are recorded here with their cost." });
  },
};

// Endpoints
function healthCheck(name) {
  const status = el("span", { class: "health", "data-testid": "health" });
  const check = el("button", { class: "small", "data-testid": "check", onclick: async () => {
    check.disabled = true;
    status.replaceChildren("checking…");
    try {
      const result = await api(`/api/endpoints/${encodeURIComponent(name)}/health`, { body: {} });
      status.replaceChildren(result.ok ? el("span", { class: "badge ok" }, `healthy · ${fmt.num(result.latency_ms, 0)} ms`)
        : el("span", { class: "badge bad", title: result.error }, `unhealthy: ${result.error}`));
    } catch (error) {
      status.replaceChildren(el("span", { class: "badge bad" }, error.message));
    }
    check.disabled = false;
  } }, "Check health");
  return [check, status];
}

views.endpoints = {
  async open() {
    const rows = await api("/api/endpoints");
    const container = $("#endpoints");
    container.replaceChildren();
    const configured = rows.filter((r) => r.configured);
    const cards = el("div", { class: "cards" });
    if (!configured.length) {
      container.append(el("p", { class: "empty" }, "No endpoints configured. Create one with ",
        el("code", {}, "lakeinfer endpoints create NAME --provider openai --base-url URL --model MODEL"), "."));
    }
    for (const row of configured) {
      const limits = Object.entries(row.limits || {}).map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`).join(" · ");
      const price = row.price_input_per_million != null || row.price_output_per_million != null
        ? `$${row.price_input_per_million ?? 0} in / $${row.price_output_per_million ?? 0} out per 1M tokens` : null;
      cards.append(el("div", { class: "card", "data-endpoint": row.name },
        el("h3", {}, row.name),
        el("dl", { class: "kv" },
          el("dt", {}, "provider"), el("dd", {}, row.provider, " · ", row.task),
          el("dt", {}, "model"), el("dd", {}, row.model || "–"),
          row.base_url ? [el("dt", {}, "URL"), el("dd", { class: "mono" }, row.base_url)] : null,
          limits ? [el("dt", {}, "limits"), el("dd", {}, limits)] : null,
          price ? [el("dt", {}, "price"), el("dd", {}, price)] : null,
          row.api_key_env ? [el("dt", {}, "key from"), el("dd", { class: "mono" }, `$${row.api_key_env}`)] : null),
        el("div", { class: "row-actions" }, healthCheck(row.name))));
    }
    if (configured.length) container.append(cards);
    const builtin = rows.filter((r) => !r.configured);
    if (builtin.length) {
      const list = el("div");
      renderRecords(list, builtin, [
        { label: "Name", key: "name", class: "mono" },
        { label: "Task", key: "task" },
        { label: "Answered by", value: () => "embedded model" },
        { label: "", value: (r) => el("span", { class: "row-actions", "data-endpoint": r.name }, healthCheck(r.name)) },
      ], { testid: "builtin-endpoints" });
      container.append(el("div", { class: "pager", style: "border-top:0" },
        "Databricks' pre-provisioned names: answered by your workspace when DATABRICKS_HOST and DATABRICKS_TOKEN are set, else by the embedded model (configure an endpoint of the same name to use another)"), list);
    }
  },
};

// Jobs, streams, reports: whatever the pipelines and evaluation tools left in the lakehouse
views.jobs = {
  async open() {
    const rows = await api("/api/jobs");
    $("#job-tasks").replaceChildren();
    renderRecords($("#jobs"), rows, [
      { label: "Job", key: "job_name" },
      { label: "Run", key: "run_id", class: "mono" },
      { label: "Status", value: (r) => badge(r.status) },
      { label: "Trigger", key: "trigger" },
      { label: "Started (UTC)", value: (r) => fmt.when(r.started_at) },
      { label: "Duration", value: (r) => fmt.secs(r.duration_s), num: true },
      { label: "Error", value: (r) => r.error || "" },
    ], { testid: "jobs", emptyText: info.empty?.jobs, onRow: (r, tr) => this.tasks(r, tr) });
  },
  async tasks(run, tr) {
    for (const row of tr.parentNode.children) row.classList.toggle("selected", row === tr);
    const rows = await api(`/api/jobs/${encodeURIComponent(run.run_id)}/tasks`);
    const box = $("#job-tasks");
    renderRecords(box, rows, [
      { label: "Task", key: "task_key" },
      { label: "Attempt", key: "attempt", num: true },
      { label: "Status", value: (r) => badge(r.status) },
      { label: "Depends on", value: (r) => (r.depends_on || []).join(", ") },
      { label: "Started (UTC)", value: (r) => fmt.when(r.started_at) },
      { label: "Duration", value: (r) => fmt.secs(r.duration_s), num: true },
      { label: "Error", value: (r) => r.error || "" },
    ], { testid: "tasks", emptyText: `Run ${run.run_id} has no recorded tasks.` });
    box.prepend(el("div", { class: "pager", style: "border-top:0" }, `Tasks of ${run.job_name} · run ${run.run_id}`));
  },
};

views.streams = {
  async open() {
    const rows = await api("/api/streams");
    renderRecords($("#streams"), rows, [
      { label: "Target", key: "target", class: "mono" },
      { label: "Source", value: (r) => r.source ?? "–", class: "mono" },
      { label: "State", value: (r) => (r.running === true ? badge("RUNNING") : r.running === false ? badge("STOPPED") : "–") },
      { label: "Batches", value: (r) => fmt.int(r.batches_committed), num: true },
      { label: "Rows written", value: (r) => fmt.int(r.rows_written), num: true },
      { label: "Lag", value: (r) => (r.lag_rows == null ? "–" : `${fmt.int(r.lag_rows)} rows · ${fmt.int(r.lag_versions)} versions`), num: true,
        title: (r) => (r.source_version == null ? "" : `source at version ${r.source_version}${r.pending_batch != null ? `, batch ${r.pending_batch} pending` : ""}`) },
      { label: "Note", value: (r) => r.status ?? "", class: "note-cell", title: (r) => r.status ?? "" },
    ], { testid: "streams", emptyText: info.empty?.streams });
  },
};

views.batches = {
  async open() {
    const rows = await api("/api/batches");
    renderRecords($("#batches"), rows, [
      { label: "Batch", key: "batch_id", class: "mono" },
      { label: "Endpoint", key: "endpoint", class: "mono" },
      { label: "Status", value: (r) => badge(String(r.status).toUpperCase()) },
      { label: "Requests", value: (r) => fmt.int(r.requests), num: true },
      { label: "Completed", value: (r) => fmt.int(r.completed), num: true },
      { label: "Failed", value: (r) => fmt.int(r.failed), num: true },
      { label: "Answers taken", value: (r) => (r.collected ? "yes" : "not yet") },
      { label: "Submitted", value: (r) => new Date(r.created_at * 1000).toLocaleString() },
    ], { testid: "batches", emptyText: info.empty?.batches });
  },
};

views.reports = {
  list: [],
  async open(id) {
    this.list = await api("/api/reports");
    const box = $("#reports");
    box.replaceChildren();
    if (!this.list.length) {
      box.append(el("p", { class: "empty", "data-testid": "empty" }, info.empty?.reports));
      $("#report").replaceChildren();
      return;
    }
    for (const report of this.list) {
      box.append(el("button", { class: "report-item", "data-report": report.id,
        onclick: () => { location.hash = `#reports/${report.id}`; } },
        el("span", { class: "title" }, report.title),
        el("span", { class: "meta" }, `${report.kind} · ${report.file} · ${new Date(report.modified * 1000).toLocaleString()}`)));
    }
    const chosen = this.list.find((r) => r.id === id);
    for (const item of box.children) item.classList.toggle("active", item.dataset.report === chosen?.id);
    const frame = $("#report");
    frame.replaceChildren(chosen
      ? el("iframe", { src: `/reports/${chosen.id}`, title: chosen.title, "data-testid": "report-frame", sandbox: "allow-same-origin" })
      : el("p", { class: "empty" }, "Pick a report to open it."));
  },
};

async function refreshCompletion() {
  try {
    const tree = await api("/api/catalog");
    const tables = {};
    for (const catalog of tree) for (const schema of catalog.schemas) {
      for (const table of [...schema.tables, ...schema.views]) tables[`${catalog.name}.${schema.name}.${table}`] = [];
    }
    editor.setTables(tables);
  } catch { /* completion is a convenience */ }
}

// -- start -----------------------------------------------------------------------------------
async function main() {
  editor = createEditor($("#editor"), {
    doc: localStorage.getItem(STORAGE_KEY) ?? DEFAULT_SQL,
    onRun: () => { if (!$("#run").disabled) sqlView.start(); },
    onChange: (text) => localStorage.setItem(STORAGE_KEY, text),
  });
  window.lakeinferEditor = editor; // for tests and the browser console
  $("#run").addEventListener("click", () => sqlView.start());
  $("#cancel").addEventListener("click", () => sqlView.cancel());
  for (const button of document.querySelectorAll("[data-refresh]")) {
    button.addEventListener("click", () => views[button.dataset.refresh].open());
  }
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  info = await api("/api/info").catch(() => ({}));
  $("#home").textContent = info.home ? `${info.home} · lakeinfer ${info.version}` : "";
  show(location.hash.slice(1));
  refreshCompletion();
  document.body.dataset.ready = "true";
}

main();
