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
  $("runs-view").hidden = !!m;
  $("run-view").hidden = !m;
  if (m) openRun(decodeURIComponent(m[1]));
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
    } catch (err) {
      $("runs-root").textContent = "cannot reach the server: " + err.message;
    }
    if (!page) schedule(refresh);
  };
  refresh();
}

function runRow(r) {
  if (r.error) return el("tr", {}, el("td", {}, r.id), el("td", { colspan: 5, class: "muted" }, r.error));
  const link = el("a", { href: "#/run/" + encodeURIComponent(r.id) }, r.id);
  const name = r.name !== r.id ? el("span", { class: "muted" }, " (" + r.name + ")") : "";
  return el("tr", { "data-run": r.id },
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
  $("phases-note").textContent = data.phases.available
    ? "phases: change points, trends, shocks, divergences marked" : (data.phases.note || "");
  const box = $("panels");
  const have = [...box.children].map((d) => d.dataset.panel).join("\n");
  if (have !== p.panels.map((x) => x.id).join("\n")) {
    box.replaceChildren(...p.panels.map((x) => el("div", { class: "panel", "data-panel": x.id })));
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
    const layout = { ...panel.layout, uirevision: panel.id };
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

route();
