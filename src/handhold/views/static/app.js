// handhold dashboard: the runs list and one run's page, kept live by polling the JSON API.
// The server decides the panels (the same ones as the static report) and reduces the data;
// this page fills the traces, smooths, overlays other runs and appends what is new.
"use strict";

const POLL_MS = 1500;
const MAX_POINTS = 4000;
const PLOT_CONFIG = { displaylogo: false, responsive: true };
const $ = (id) => document.getElementById(id);

let timer = null;
let page = null; // the state of the run page on screen

async function api(path, options) {
  const res = await fetch(path, options);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || res.status));
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// ------------------------------------------------------------------ routing
function route() {
  clearTimeout(timer);
  const m = location.hash.match(/^#\/run\/([^/?]+)/);
  const cmp = location.hash.match(/^#\/compare\?(.*)$/);
  $("runs-view").hidden = !!m || !!cmp;
  $("run-view").hidden = !m;
  $("compare-view").hidden = !cmp;
  if (m) openRun(decodeURIComponent(m[1]));
  else if (cmp) openCompare(new URLSearchParams(cmp[1]));
  else openRuns();
}
window.addEventListener("hashchange", route);

function schedule(fn) {
  clearTimeout(timer);
  timer = setTimeout(fn, POLL_MS);
}

// ------------------------------------------------------------------ runs list
async function openRuns() {
  page = null;
  $("crumb").textContent = "";
  $("live").hidden = true;
  const refresh = async () => {
    try {
      const data = await api("/api/runs");
      $("runs-root").textContent = data.root;
      const body = $("runs-body");
      body.replaceChildren(...data.runs.map(runRow));
      $("runs-empty").hidden = data.runs.length > 0;
      filterRuns();
    } catch (err) {
      $("runs-root").textContent = "cannot reach the server: " + err.message;
    }
    if (!page && !$("runs-view").hidden) schedule(refresh);
  };
  refresh();
}

function runRow(r) {
  if (r.error) return el("tr", {}, el("td", {}), el("td", {}, r.id), el("td", { colspan: 5, class: "muted" }, r.error));
  const link = el("a", { href: "#/run/" + encodeURIComponent(r.id) }, r.id);
  const name = r.name !== r.id ? el("span", { class: "muted" }, " (" + r.name + ")") : "";
  return el("tr", { "data-run": r.id },
    el("td", {}, pickBox(r.id)),
    el("td", {}, link, name),
    el("td", {}, el("span", { class: "status " + r.status, title: r.reason || "" }, r.status)),
    el("td", {}, r.stage || ""),
    el("td", {}, (r.stages || []).join(" › ")),
    el("td", {}, r.last_step ?? "–"),
    el("td", { class: "muted" }, r.phases || ""));
}

// ------------------------------------------------------------------ run page
async function openRun(id) {
  page = { id, info: null, panels: [], series: {}, overlays: {}, zoom: {}, lastStep: null,
           eventCount: -1, panelsAt: 0, phasesPending: false, sampleCount: -1, history: {}, tick: 0 };
  $("crumb").textContent = "› " + id;
  $("panels").replaceChildren();
  $("chat-log").replaceChildren();
  $("samples").replaceChildren();
  try {
    await poll(true);
  } catch (err) {
    $("run-title").textContent = err.message;
  }
}

async function poll(first = false) {
  const p = page;
  if (!p) return;
  try {
    const info = await api(`/api/runs/${encodeURIComponent(p.id)}`);
    if (p !== page) return;
    const keysChanged = !p.info || p.info.keys.join() !== info.keys.join();
    p.info = info;
    showInfo(info);
    const now = Date.now();
    const moved = info.last_step !== p.lastStep;
    if (keysChanged || p.phasesPending || info.counts.events !== p.eventCount || (moved && now - p.panelsAt > 5000)) {
      await loadPanels();
      p.eventCount = info.counts.events;
    }
    if (first || keysChanged) {
      await loadSeries();
    } else if (moved) {
      await appendSeries();
    }
    if (first) { fillCompare(); fillKinds(); }
    await refreshReview(info, first);
    if (info.counts.samples !== p.sampleCount) {
      p.sampleCount = info.counts.samples;
      await loadSamples();
    }
    if (p.tick++ % 7 === 0) await refreshOverlays();
    render();
  } catch (err) {
    $("run-reason").textContent = "update failed: " + err.message;
  }
  if (p === page) schedule(() => poll());
}

function showInfo(info) {
  const step = info.last_step ?? "–";
  $("run-title").textContent = `${info.name} — ${info.status}, step ${step}`;
  $("run-title").dataset.lastStep = step;
  $("run-reason").textContent = info.reason || "";
  $("live").hidden = info.status !== "running";
  const sel = $("chat-step");
  const have = [...sel.options].map((o) => Number(o.value)).join();
  if (have !== info.checkpoints.join()) {
    const keep = sel.value;
    sel.replaceChildren(...info.checkpoints.map((s) => el("option", { value: s }, "step " + s)));
    if (info.checkpoints.map(String).includes(keep)) sel.value = keep;
    else if (info.checkpoints.length) sel.value = info.checkpoints[info.checkpoints.length - 1];
    const other = $("chat-step2"), keep2 = other.value;
    other.replaceChildren(el("option", { value: "" }, "—"),
                          ...info.checkpoints.map((s) => el("option", { value: s }, "step " + s)));
    if (info.checkpoints.map(String).includes(keep2)) other.value = keep2;
    $("chat-send").disabled = info.checkpoints.length === 0;
    $("chat-status").textContent = info.checkpoints.length ? "" : "no checkpoint yet";
  }
}

async function loadPanels() {
  const p = page;
  const data = await api(`/api/runs/${encodeURIComponent(p.id)}/panels`);
  p.panels = data.panels;
  p.panelsAt = Date.now();
  p.phasesPending = !!data.phases.pending;
  showMarkToggles(data.marks || []);
  $("phases-note").textContent = data.phases.available
    ? "phases: change points, trends, shocks, divergences marked" : (data.phases.note || "");
  const box = $("panels");
  const have = [...box.querySelectorAll(".panel")].map((d) => d.dataset.panel).join("\n");  // a folded panel sits in a <details>
  if (have !== p.panels.map((x) => x.id).join("\n")) {
    box.replaceChildren(...p.panels.map((x) => {
      const div = el("div", { class: "panel", "data-panel": x.id });
      if (!x.collapsed) return div;  // the schedule and system panel: folded until opened
      const fold = el("details", {}, el("summary", {}, x.title), div);
      fold.addEventListener("toggle", () => { if (fold.open && div.data) Plotly.Plots.resize(div); });
      return fold;
    }));
    box.querySelectorAll(".panel").forEach((div) => { div.dataset.bound = ""; });
  }
}

function metricsUrl(id, params) {
  const q = new URLSearchParams({ max_points: MAX_POINTS, ...params });
  return `/api/runs/${encodeURIComponent(id)}/metrics?${q}`;
}

async function loadSeries() {
  const p = page;
  const data = await api(metricsUrl(p.id, {}));
  p.series = data.series;
  p.lastStep = data.last_step;
}

async function appendSeries() {
  const p = page;
  const since = p.lastStep ?? 0;
  const data = await api(metricsUrl(p.id, { since }));
  let reload = false;
  for (const [key, s] of Object.entries(data.series)) {
    const old = p.series[key] || { steps: [], values: [] };
    let cut = old.steps.length;
    while (cut > 0 && old.steps[cut - 1] >= since) cut--; // rows at `since` come again, complete
    old.steps = old.steps.slice(0, cut).concat(s.steps);
    old.values = old.values.slice(0, cut).concat(s.values);
    p.series[key] = old;
    if (old.steps.length > 3 * MAX_POINTS || s.downsampled) reload = true;
  }
  p.lastStep = data.last_step;
  if (data.last_step !== null && since > data.last_step) reload = true; // resumed: rows were truncated
  if (reload) await loadSeries();
}

// ------------------------------------------------------------------ drawing
function ema(values, w) {
  // TensorBoard's debiased exponential moving average
  const out = new Array(values.length);
  let last = 0;
  for (let i = 0; i < values.length; i++) {
    last = last * w + (1 - w) * values[i];
    out[i] = last / (1 - Math.pow(w, i + 1));
  }
  return out;
}

function traceFor(spec, s, w, extra = {}) {
  const smooth = w > 0 && spec.role !== "eval" && s.values.length > 10;
  const mode = spec.role === "eval" && s.steps.length <= 200 ? "lines+markers" : "lines";
  return { type: "scatter", mode, ...spec.style, x: s.steps, y: smooth ? ema(s.values, w) : s.values, ...extra };
}

function bandTraces(spec, band) {
  const color = (spec.style.line && spec.style.line.color) || "#888";
  const fill = /^#[0-9a-f]{6}$/i.test(color)
    ? `rgba(${parseInt(color.slice(1, 3), 16)},${parseInt(color.slice(3, 5), 16)},${parseInt(color.slice(5, 7), 16)},0.18)`
    : "rgba(128,128,128,0.18)";
  const edge = { type: "scatter", mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false,
                 xaxis: spec.style.xaxis, yaxis: spec.style.yaxis, name: `${spec.style.name} 95% band` };
  return [{ ...edge, x: band.steps, y: band.hi }, { ...edge, x: band.steps, y: band.lo, fill: "tonexty", fillcolor: fill }];
}

function render() {
  const p = page;
  if (!p) return;
  const w = Number($("smoothing").value);
  p.panels.forEach((panel) => {
    const div = document.querySelector(`.panel[data-panel="${CSS.escape(panel.id)}"]`);
    if (!div) return;
    const data = [];
    const zoom = p.zoom[panel.id];
    for (const spec of panel.traces) {
      const s = (zoom && zoom.series[spec.key]) || p.series[spec.key];
      if (!s) continue;
      if (w > 0 && spec.role !== "eval" && spec.style.visible !== "legendonly") {
        data.push(traceFor(spec, s, 0, { opacity: 0.18, showlegend: false, hoverinfo: "skip", name: spec.style.name + " (raw)" }));
      }
      const band = panel.bands && panel.bands[spec.key];  // the 95% band of its documents
      if (band && !zoom) data.push(...bandTraces(spec, band));
      data.push(traceFor(spec, s, w));
    }
    for (const [other, series] of Object.entries(p.overlays)) {
      for (const spec of panel.traces) {
        const s = series[spec.key];
        if (!s || spec.style.visible === "legendonly") continue;
        const line = { ...(spec.style.line || {}), dash: "dash" };
        data.push(traceFor(spec, s, w, { name: `${escapeHtml(other)} · ${spec.style.name}`, line,
                                          legendgroup: "run:" + other, opacity: 0.8 }));
      }
    }
    const layout = markLayout({ ...panel.layout, uirevision: panel.id });
    Plotly.react(div, data, layout, PLOT_CONFIG);
    if (!div.dataset.bound) {
      div.dataset.bound = "1";
      div.on("plotly_relayout", (ev) => onZoom(panel, ev));
    }
  });
}

async function onZoom(panel, ev) {
  // zoomed in: ask for the visible range at full resolution; double-click (autorange) drops it
  const p = page;
  const x0 = ev["xaxis.range[0]"], x1 = ev["xaxis.range[1]"];
  if (ev["xaxis.autorange"]) { delete p.zoom[panel.id]; render(); return; }
  if (x0 === undefined || x1 === undefined) return;
  const start = Math.max(0, Math.floor(x0)), end = Math.max(0, Math.ceil(x1));
  if (end <= start) return;
  const keys = panel.traces.map((t) => t.key).join(",");
  try {
    const data = await api(metricsUrl(p.id, { keys, start, end }));
    if (p === page) { p.zoom[panel.id] = { series: data.series }; render(); }
  } catch (err) { /* keep the coarse curve */ }
}

$("smoothing").addEventListener("input", () => {
  $("smoothing-value").textContent = Number($("smoothing").value).toFixed(2);
  render();
});

// ------------------------------------------------------------------ picking runs to compare
// The runs list keeps the ticked runs and the filter across its refreshes; "compare selected"
// opens #/compare?runs=a,b (compare.js draws it; GET /api/compare gives the document).
const picked = new Set();

function pickBox(id) {
  const box = el("input", { type: "checkbox", class: "pick", value: id, title: "compare this run" });
  box.checked = picked.has(id);
  box.addEventListener("change", () => { if (box.checked) picked.add(id); else picked.delete(id); showPicked(); });
  return box;
}

function showPicked() {
  const n = picked.size;
  $("compare-go").disabled = n < 1;
  $("compare-go").textContent = n ? `compare selected (${n})` : "compare selected";
  $("runs-selected").textContent = n ? [...picked].join(", ") : "tick runs to compare them on one chart";
}

function filterRuns() {
  const q = $("runs-filter").value.trim().toLowerCase();
  for (const tr of $("runs-body").children) tr.hidden = !!q && !tr.textContent.toLowerCase().includes(q);
  showPicked();
}

$("runs-filter").addEventListener("input", filterRuns);
$("runs-all").addEventListener("change", () => {
  for (const box of $("runs-body").querySelectorAll("tr:not([hidden]) input.pick")) {
    box.checked = $("runs-all").checked;
    if (box.checked) picked.add(box.value); else picked.delete(box.value);
  }
  showPicked();
});
$("compare-go").addEventListener("click", () => {
  location.hash = "#/compare?" + new URLSearchParams({ runs: [...picked].join(",") });
});

async function openCompare(params) {
  page = null;
  const ids = (params.get("runs") || "").split(",").filter(Boolean);
  ids.forEach((id) => picked.add(id));
  $("crumb").textContent = "› compare " + ids.join(", ");
  $("live").hidden = true;
  const load = (key) => api("/api/compare?" + new URLSearchParams({ runs: ids.join(","), ...(key ? { key } : {}) }));
  const token = {};
  compareToken = token;
  let view = null;
  const refresh = async () => {
    if (compareToken !== token) return;
    try {
      const doc = await load(view ? view.state.key : params.get("key"));
      if (compareToken !== token) return;
      $("compare-title").textContent = "Compare " + doc.runs.map((r) => `${r.id} (${r.status})`).join(" · ");
      $("live").hidden = !doc.runs.some((r) => r.status === "running");
      $("compare-note").textContent = "";
      if (!view) {
        view = HandholdCompare.mount($("compare-root"), doc, {
          key: params.get("key"), axis: params.get("x"), load,
          onChange: (key, axis) => history.replaceState(null, "", "#/compare?" +
            new URLSearchParams({ runs: ids.join(","), key, x: axis })),
        });
      } else if (doc.key === view.state.key) view.update(doc); // else: a pick changed the key meanwhile
    } catch (err) {
      $("compare-note").textContent = "cannot compare: " + err.message;
    }
    if (compareToken === token && !$("compare-view").hidden) schedule(refresh);
  };
  refresh();
}
let compareToken = null;

// ------------------------------------------------------------------ comparing runs
async function fillCompare() {
  const p = page;
  const data = await api("/api/runs");
  const list = $("compare-list");
  list.replaceChildren(...data.runs.filter((r) => r.id !== p.id && !r.error).map((r) => {
    const box = el("input", { type: "checkbox", value: r.id });
    box.addEventListener("change", async () => {
      if (box.checked) await loadOverlay(r.id); else delete page.overlays[r.id];
      render();
    });
    return el("label", {}, box, " " + r.id);
  }));
  if (!list.children.length) list.append(el("span", { class: "muted" }, "no other runs"));
}

async function loadOverlay(other) {
  const p = page;
  const keys = new Set(p.panels.flatMap((x) => x.traces.map((t) => t.key)));
  const data = await api(metricsUrl(other, {}));
  p.overlays[other] = Object.fromEntries(Object.entries(data.series).filter(([k]) => keys.has(k)));
}

async function refreshOverlays() {
  for (const other of Object.keys(page.overlays)) await loadOverlay(other);
}

// ------------------------------------------------------------------ probe timeline
async function fillKinds() {
  const data = await api(`/api/runs/${encodeURIComponent(page.id)}/samples?limit=1`);
  const sel = $("sample-kind");
  const kinds = data.kinds;
  sel.replaceChildren(el("option", { value: "" }, "all"), ...kinds.map((k) => el("option", { value: k }, k)));
  sel.value = kinds.includes("probe") ? "probe" : "";
}

let searchTimer = null;
$("sample-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(loadSamples, 250);
});
$("sample-kind").addEventListener("change", loadSamples);

async function loadSamples() {
  const p = page;
  if (!p) return;
  const params = new URLSearchParams({ limit: 1000 });
  if ($("sample-kind").value) params.set("kind", $("sample-kind").value);
  const q = $("sample-search").value.trim();
  if (q) params.set("q", q);
  const data = await api(`/api/runs/${encodeURIComponent(p.id)}/samples?${params}`);
  if (p !== page) return;
  const kinds = [...$("sample-kind").options].map((o) => o.value);
  if (data.kinds.some((k) => !kinds.includes(k))) await fillKinds();
  const byPrompt = new Map();
  for (const s of data.samples) {
    const key = s.kind + "\u0000" + s.prompt;
    if (!byPrompt.has(key)) byPrompt.set(key, []);
    byPrompt.get(key).push(s);
  }
  const open = new Set([...document.querySelectorAll("#samples details[open]")].map((d) => d.dataset.key));
  const blocks = [...byPrompt.entries()].map(([key, rows], i) => {
    rows.sort((a, b) => a.step - b.step);
    const d = el("details", { "data-key": key },
      el("summary", {}, highlight(rows[0].prompt, q), el("span", { class: "muted" }, `  ${rows[0].kind} · ${rows.length}`)),
      el("table", {}, el("tbody", {}, ...rows.map((s) =>
        el("tr", {}, el("td", { class: "step" }, s.step), el("td", { class: "text" }, highlight(s.text, q)))))));
    d.open = open.size ? open.has(key) : i < 3;
    return d;
  });
  $("samples").replaceChildren(...blocks);
  $("sample-count").textContent = data.total > data.samples.length
    ? `${data.samples.length} of ${data.total} samples (latest)` : `${data.total} samples`;
  if (!blocks.length) $("samples").append(el("p", { class: "muted" }, q ? "nothing matches" : "no samples yet"));
}

function highlight(text, q) {
  const span = el("span");
  if (!q) { span.textContent = text; return span; }
  const lower = text.toLowerCase(), needle = q.toLowerCase();
  let at = 0;
  for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
    span.append(text.slice(at, i), el("mark", {}, text.slice(i, i + q.length)));
    at = i + q.length;
  }
  span.append(text.slice(at));
  return span;
}

// ------------------------------------------------------------------ chat
function say(who, text, cls) {
  const log = $("chat-log");
  log.append(el("div", { class: "msg " + cls }, el("span", { class: "who" }, who), text));
  log.scrollTop = log.scrollHeight;
}

// One reply streamed into `node` (server-sent events: token..., then done or error).
async function streamReply(runId, body, node) {
  const res = await fetch(`/api/runs/${encodeURIComponent(runId)}/chat/stream`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) {
    const err = await res.json().catch(() => ({}));
    throw new Error(typeof err.detail === "string" ? err.detail : JSON.stringify(err.detail || res.status));
  }
  const reader = res.body.getReader(), decoder = new TextDecoder();
  let buffer = "", reply = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const kind = (block.match(/^event: (.*)$/m) || [])[1] || "message";
      const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "{}");
      if (kind === "token") { node.append(data.text); $("chat-log").scrollTop = $("chat-log").scrollHeight; }
      else if (kind === "done") reply = data;
      else if (kind === "error") throw new Error(data.detail);
    }
  }
  if (!reply) throw new Error("the reply stream ended early");
  return reply;
}

$("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const p = page;
  const message = $("chat-input").value;
  const step = Number($("chat-step").value);
  const other = $("chat-step2").value === "" ? null : Number($("chat-step2").value);
  const steps = other === null || other === step ? [step] : [step, other];
  if (!p || !message.trim() || $("chat-send").disabled) return;
  const temperature = Number($("chat-temp").value), top_p = Number($("chat-top-p").value);
  say("you", message, "you");
  $("chat-input").value = "";
  $("chat-send").disabled = true;
  $("chat-status").textContent = "generating…";
  // one column per checkpoint: the same message, each with its own history
  const row = el("div", { class: steps.length > 1 ? "pair" : "" });
  $("chat-log").append(row);
  const notes = [];
  for (const s of steps) {
    const history = p.history[s] || (p.history[s] = []);
    const text = el("span", {});
    row.append(el("div", { class: "msg model" }, el("span", { class: "who" }, `step ${s}`), text));
    try {
      const r = await streamReply(p.id, { message, step: s, history, temperature, top_p }, text);
      if (!r.text) text.textContent = "(nothing)";
      history.push([message, r.text]);
      notes.push(`step ${s}: ${r.new_tokens} tokens in ${r.seconds.toFixed(2)} s (stopped: ${r.stopped})`);
    } catch (err) {
      text.parentNode.replaceWith(el("div", { class: "msg error" }, el("span", { class: "who" }, "error"), err.message));
    }
  }
  $("chat-status").textContent = notes.length ? notes.join("; ") + "; saved to the run" : "";
  $("chat-send").disabled = false;
});

$("chat-input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("chat-form").requestSubmit(); }
});

// ------------------------------------------------------------------ phase-mark toggles (marks.js)
function showMarkToggles(kinds) {
  const p = page;
  p.markKinds = kinds;
  const layouts = p.panels.map((x) => x.layout);
  const counts = HandholdMarks.count(layouts, kinds);
  const sig = kinds.filter((k) => counts[k.kind]).map((k) => k.kind + counts[k.kind]).join();
  if (p.markSig !== sig) {
    p.markSig = sig;
    HandholdMarks.bar($("mark-toggles"), kinds, counts, () => render());
  }
}

function markLayout(layout) {
  const kinds = (page && page.markKinds) || [];
  return kinds.length ? HandholdMarks.apply(layout, kinds, HandholdMarks.hidden()) : layout;
}

// ------------------------------------------------------------------ wrong-answer review
// The step's wrong answers with the model's reasoning, its choice and the gold; a person marks
// each sound or unsound (PUT .../review/label); the share of sound reasoning updates at once.
async function refreshReview(info, first) {
  const p = page;
  const seen = info.counts.events + "/" + info.counts.samples;
  if (!first && p.reviewSeen === seen) return;
  p.reviewSeen = seen;
  const keepStep = first ? null : p.review && p.review.stepChosen;
  await loadReview(keepStep, first ? null : $("review-task").value || null);
}

async function loadReview(step, task) {
  const p = page;
  const params = new URLSearchParams();
  if (step !== null && step !== undefined && step !== "") params.set("step", step);
  if (task) params.set("task", task);
  let data;
  try {
    data = await api(`/api/runs/${encodeURIComponent(p.id)}/review?${params}`);
  } catch (err) {
    if (step !== null || task) return loadReview(null, null); // the step or task went away
    $("review-note").textContent = "review: " + err.message;
    return;
  }
  if (p !== page) return;
  p.review = { ...data, stepChosen: step };
  const stepSel = $("review-step"), taskSel = $("review-task");
  stepSel.replaceChildren(...data.steps.map((s) => el("option", { value: s }, "step " + s)));
  stepSel.value = data.step ?? "";
  taskSel.replaceChildren(el("option", { value: "" }, "all"), ...data.tasks.map((t) => el("option", { value: t }, t)));
  taskSel.value = data.task || "";
  $("review").hidden = !data.steps.length && !data.notes.length;
  drawReviewChart(data.figure);
  $("review-note").textContent = data.notes.join("; ");
  showShare();
  $("review-items").replaceChildren(...data.items.map(answerCard));
  if (data.total > data.items.length) $("review-items").append(moreButton(data.items.length, data.total));
  const jump = $("to-review");
  jump.hidden = !data.steps.length;
  jump.textContent = `wrong-answer review: ${data.total} at step ${data.step} ↓`;
}

function drawReviewChart(figure) {
  const div = $("review-chart");
  div.hidden = !figure;
  if (figure) Plotly.react(div, figure.data, { ...figure.layout, uirevision: "review" }, PLOT_CONFIG);
}

async function refreshReviewChart() {
  // the whole run's shares after a label (the share of that step moved)
  const p = page;
  try {
    const data = await api(`/api/runs/${encodeURIComponent(p.id)}/review?step=${p.review.step}&limit=1`);
    if (p === page) drawReviewChart(data.figure);
  } catch (err) { /* the chart keeps its last state */ }
}

function moreButton(shown, total) {
  // the next page of a step's wrong answers (a benchmark step can have thousands)
  const b = el("button", { type: "button", class: "linkish more" }, `show more (${shown} of ${total})`);
  b.addEventListener("click", async () => {
    const p = page, rv = p.review;
    const params = new URLSearchParams({ step: rv.step, offset: shown });
    if (rv.task) params.set("task", rv.task);
    try {
      const data = await api(`/api/runs/${encodeURIComponent(p.id)}/review?${params}`);
      if (p !== page) return;
      b.replaceWith(...data.items.map(answerCard));
      const now = shown + data.items.length;
      if (data.total > now) $("review-items").append(moreButton(now, data.total));
    } catch (err) { $("review-note").textContent = "review: " + err.message; }
  });
  return b;
}

$("to-review").addEventListener("click", () => $("review").scrollIntoView({ behavior: "smooth" }));

$("review-step").addEventListener("change", () => loadReview(Number($("review-step").value), $("review-task").value || null));
$("review-task").addEventListener("change", () => loadReview(page.review ? page.review.step : null, $("review-task").value || null));

function pct(x) { return (100 * x).toFixed(0) + "%"; }

function shareText(r) {
  const labelled = r.sound + r.unsound;
  if (r.share === null) return `${r.wrong} wrong, none labelled`;
  return `${pct(r.share)} sound (95% CI ${pct(r.low)}–${pct(r.high)}) of ${labelled} labelled` +
    ` (${r.human} by hand)` + (r.unlabelled ? `, ${r.unlabelled} unlabelled` : "");
}

function showShare() {
  const rv = page.review;
  const rows = rv.summary.filter((r) => r.step === rv.step);
  const chosen = rows.find((r) => r.task === (rv.task || "all")) || (rows.length === 1 ? rows[0] : null);
  $("review-share").textContent = chosen
    ? `sound reasoning among ${chosen.wrong} wrong answers (${chosen.task}, step ${rv.step}): ${shareText(chosen)}` : "";
  $("review-share").dataset.share = chosen && chosen.share !== null ? chosen.share.toFixed(4) : "";
  const head = el("tr", {}, ...["task", "wrong", "sound", "unsound", "unlabelled", "by hand", "share sound (95% CI)"]
    .map((h) => el("th", {}, h)));
  $("review-summary").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows.map((r) =>
    el("tr", { "data-task": r.task }, el("td", {}, r.task), el("td", {}, r.wrong), el("td", {}, r.sound),
      el("td", {}, r.unsound), el("td", {}, r.unlabelled), el("td", {}, r.human),
      el("td", { class: "share-cell" }, r.share === null ? "–" : `${pct(r.share)} (${pct(r.low)}–${pct(r.high)})`)))));
}

function answerCard(item) {
  const card = el("div", { class: "answer", "data-task": item.task, "data-doc": item.doc_id });
  const head = el("div", { class: "answer-head" }, el("span", { class: "muted" }, `${item.task} · #${item.doc_id}`),
    " ", el("span", { class: "question" }, item.question));
  const said = el("div", { class: "choices" });
  if (item.choices.length) {
    said.append(el("ol", { type: "A" }, ...item.choices.map((c, i) => el("li", {
      class: (i === item.gold ? "gold" : "") + (i === item.choice ? " chosen" : "") },
      c, i === item.gold ? el("span", { class: "tag gold-tag" }, "gold") : "",
      i === item.choice ? el("span", { class: "tag chosen-tag" }, "model") : ""))));
    if (item.choice === null) said.append(el("div", { class: "muted" }, `model: ${item.choice_text ?? "no choice"}`));
  } else {
    said.append(el("span", { class: "tag gold-tag" }, "gold"), " " + item.gold_text + "   ",
      el("span", { class: "tag chosen-tag" }, "model"), " " + (item.choice_text ?? "(no answer)"));
  }
  const reasoning = el("pre", { class: "reasoning" }, item.reasoning || "(no reasoning)");
  const verdict = el("div", { class: "verdict" });
  card.append(head, said, reasoning, verdict);
  showVerdict(card, verdict, item);
  return card;
}

function showVerdict(card, box, item) {
  card.dataset.label = item.label || "";
  card.dataset.source = item.label_source || "";
  const buttons = ["sound", "unsound"].map((lab) => {
    const on = item.label === lab ? " on " + (item.human ? "human" : "auto") : "";
    const b = el("button", { type: "button", class: "label-btn " + lab + on, "data-label": lab,
                             title: item.human === lab ? "click to clear your label" : "mark as " + lab }, lab);
    b.addEventListener("click", () => setLabel(card, box, item, item.human === lab ? null : lab));
    return b;
  });
  const state = item.label_source === "human" ? el("span", { class: "by-hand" }, "by hand")
    : item.label_source === "auto" ? el("span", { class: "auto", title: item.auto_reason }, "automatic: " + item.auto_reason)
    : el("span", { class: "muted" }, "unlabelled: " + item.auto_reason);
  box.replaceChildren(...buttons, state);
  if (item.human && item.auto) box.append(el("span", { class: "muted" }, ` (automatic was ${item.auto}; click again to go back)`));
}

async function setLabel(card, box, item, label) {
  const p = page;
  try {
    const r = await api(`/api/runs/${encodeURIComponent(p.id)}/review/label`, {
      method: "PUT", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ step: item.step, task: item.task, doc_id: item.doc_id, label }) });
    if (p !== page) return;
    Object.assign(item, r.item);
    const rv = p.review;
    rv.summary = rv.summary.filter((row) => row.step !== item.step).concat(r.summary);
    showVerdict(card, box, item);
    showShare();
    refreshReviewChart();
  } catch (err) {
    $("review-note").textContent = "label not saved: " + err.message;
  }
}

route();
