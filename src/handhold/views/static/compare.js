// handhold compare: several runs on one chart, drawn from the comparison document
// (views/compare.py). The dashboard's compare view and the offline page of
// `handhold report RUN_A RUN_B -o compare.html` both mount this, so they show the same.
"use strict";

const HandholdCompare = (() => {
  const CONFIG = { displaylogo: false, responsive: true };
  const STRIP_PX = 14, GAP_PX = 4, MARGIN = { l: 150, r: 20, t: 40, b: 50 };

  function node(tag, attrs = {}, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") n.className = v; else if (k === "style") n.style.cssText = v; else n.setAttribute(k, v);
    }
    for (const c of children) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return n;
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  // step -> counter value (tokens, samples) by linear interpolation of the run's counter;
  // (0, 0) is the counter's origin; past its last row a step has no position (null)
  function aligner(run, axis) {
    if (axis === "step") return (s) => s;
    const c = run.axes[axis];
    if (!c || !c.steps.length) return null;
    const xs = c.steps[0] > 0 ? [0, ...c.steps] : c.steps.slice();
    const ys = c.steps[0] > 0 ? [0, ...c.values] : c.values.slice();
    return (s) => {
      if (s < xs[0] || s > xs[xs.length - 1]) return null;
      let lo = 0, hi = xs.length - 1;
      while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (xs[mid] <= s) lo = mid; else hi = mid; }
      if (xs[hi] === xs[lo]) return ys[lo];
      return ys[lo] + (ys[hi] - ys[lo]) * (s - xs[lo]) / (xs[hi] - xs[lo]);
    };
  }

  function figure(doc, key, axis) {
    const runs = doc.runs, n = runs.length;
    const height = 460 + n * (STRIP_PX + GAP_PX);
    const plotPx = height - MARGIN.t - MARGIN.b;
    const h = STRIP_PX / plotPx, g = GAP_PX / plotPx;
    const top = 1 - n * (h + g) - g;
    const data = [], shapes = [], annotations = [], notes = [];
    let lo = Infinity, hi = -Infinity;
    const placed = runs.map((run) => {
      const at = aligner(run, axis);
      if (!at) { notes.push(`${run.id} logs no train/${axis}: left out of this view`); return null; }
      const s = run.series[key];
      if (!s) notes.push(`${run.id} has no ${key}`);
      const x = [], y = [];
      if (s) s.steps.forEach((step, i) => { const v = at(step); if (v !== null) { x.push(v); y.push(s.values[i]); } });
      const stages = run.stages.map((st) => ({ ...st, x0: at(st.start), x1: at(st.end) }))
        .filter((st) => st.x0 !== null && st.x1 !== null);
      for (const v of [...x, ...stages.flatMap((st) => [st.x0, st.x1])]) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      return { run, x, y, stages };
    });
    const span = hi > lo ? hi - lo : 1;
    placed.forEach((p, i) => {
      if (!p) return;
      const { run } = p;
      if (p.x.length) {
        data.push({ type: "scatter", mode: p.x.length <= 200 ? "lines+markers" : "lines", x: p.x, y: p.y,
                    name: escapeHtml(run.id), legendgroup: run.id, meta: run.id,
                    line: { color: run.color, width: 2 }, marker: { size: 5, color: run.color } });
      }
      const y1 = 1 - g - i * (h + g), y0 = y1 - h;
      p.stages.forEach((st, j) => {
        shapes.push({ type: "rect", name: `strip:${run.id}:${st.name}`, xref: "x", yref: "paper",
                      x0: st.x0, x1: st.x1, y0, y1, fillcolor: run.color, opacity: j % 2 ? 0.5 : 0.85,
                      line: { width: 1, color: "#fff" }, layer: "above" });
        if ((st.x1 - st.x0) / span > 0.07) {
          annotations.push({ xref: "x", yref: "paper", x: (st.x0 + st.x1) / 2, y: (y0 + y1) / 2, showarrow: false,
                             xanchor: "center", yanchor: "middle", text: escapeHtml(st.name),
                             font: { size: 10, color: j % 2 ? "#222" : "#fff" }, name: `strip-label:${run.id}` });
        }
      });
      const label = run.id.length > 22 ? run.id.slice(0, 21) + "…" : run.id;
      annotations.push({ xref: "paper", yref: "paper", x: 0, xanchor: "right", yanchor: "middle", xshift: -6, y: (y0 + y1) / 2,
                         showarrow: false, text: escapeHtml(label), font: { size: 10, color: run.color },
                         name: `strip-run:${run.id}` });
    });
    const layout = {
      height, template: "plotly_white", margin: MARGIN, hovermode: "x unified",
      xaxis: { title: { text: axis }, anchor: "y" }, yaxis: { title: { text: escapeHtml(key || "") }, domain: [0, top] },
      legend: { orientation: "h", y: -0.16 }, shapes, annotations, uirevision: `${key}|${axis}`,
    };
    return { data, layout, notes };
  }

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : String(+v.toPrecision(5));
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  function runHead(runs) {
    return node("tr", {}, node("th", {}, "key"), ...runs.map((r) =>
      node("th", { "data-run": r.id }, node("span", { class: "swatch", style: `background:${r.color}` }), " " + r.id)));
  }

  function tables(doc) {
    const runs = doc.runs;
    const diff = doc.config_diff.length
      ? node("table", { class: "compare-table", id: "cmp-config-table" }, node("thead", {}, runHead(runs)),
          node("tbody", {}, ...doc.config_diff.map((row) => node("tr", { "data-key": row.key }, node("td", {}, row.key),
            ...runs.map((r) => node("td", {}, fmt(row.values[r.id])))))))
      : node("p", { class: "muted" }, "The runs' configs do not differ.");
    const finals = doc.finals.length
      ? node("table", { class: "compare-table", id: "cmp-finals-table" }, node("thead", {}, runHead(runs)),
          node("tbody", {}, ...doc.finals.map((row) => node("tr", { "data-key": row.key }, node("td", {}, row.key),
            ...runs.map((r) => finalCell(row.values[r.id]))))))
      : node("p", { class: "muted" }, "No metrics yet.");
    return node("div", {}, node("h2", {}, "Config differences"), diff,
      node("h2", {}, "Final values"), finals,
      node("p", { class: "muted note" }, "Each metric's last finite value and its step. A score in [0, 1] with a " +
        "known document count (a <task>/docs metric beside it, or the answer events of a chain-of-thought score) " +
        "carries its Wilson 95% interval; n/a: the count is not known."));
  }

  function finalCell(f) {
    if (!f) return node("td", { class: "muted" }, "–");
    const ci = f.low === null || f.low === undefined ? "95% CI n/a"
      : `95% CI ${f.low.toFixed(3)}–${f.high.toFixed(3)}, n=${f.n}`;
    return node("td", { title: `last finite value, at step ${f.step}` }, node("b", {}, fmt(f.value)), " ",
      node("span", { class: "range" }, `(${ci}; step ${f.step})`));
  }

  // the view: metric and x-axis pickers, the chart, notes, the tables. opts.load(key) -> a doc
  // with that key's series (the dashboard asks the server; the offline page has them all);
  // opts.onChange(key, axis) keeps the choice (the dashboard puts it in the URL)
  function mount(root, doc, opts = {}) {
    const state = { doc, key: opts.key || doc.key, axis: opts.axis && doc.axes.includes(opts.axis) ? opts.axis : "step" };
    const keySel = node("select", { id: "cmp-key" }), axisSel = node("select", { id: "cmp-axis" });
    const filter = node("input", { id: "cmp-key-filter", type: "search", placeholder: "filter metrics" });
    const notes = node("span", { id: "cmp-notes", class: "muted" });
    const fig = node("div", { id: "cmp-figure", class: "compare-figure" });
    const below = node("div", { id: "cmp-tables" });
    root.replaceChildren(node("div", { class: "controls" }, node("label", {}, "metric ", filter, " ", keySel),
      node("label", {}, "x ", axisSel), notes), fig, below);

    function fillKeys() {
      const q = filter.value.trim().toLowerCase();
      const keys = state.doc.keys.filter((k) => !q || k.toLowerCase().includes(q) || k === state.key);
      const common = new Set(state.doc.common);
      keySel.replaceChildren(...keys.map((k) => node("option", { value: k }, common.has(k) ? k : k + " (some runs)")));
      keySel.value = state.key || "";
      axisSel.replaceChildren(...state.doc.axes.map((a) => node("option", { value: a }, a)));
      axisSel.value = state.axis;
    }

    function draw() {
      fillKeys();
      const f = figure(state.doc, state.key, state.axis);
      Plotly.react(fig, f.data, f.layout, CONFIG);
      notes.textContent = f.notes.join("; ");
      below.replaceChildren(tables(state.doc));
    }

    async function choose(key, axis) {
      state.key = key;
      state.axis = axis;
      if (opts.load && !state.doc.runs.some((r) => key in r.series)) state.doc = await opts.load(key);
      draw();
      if (opts.onChange) opts.onChange(state.key, state.axis);
    }

    keySel.addEventListener("change", () => choose(keySel.value, state.axis));
    axisSel.addEventListener("change", () => choose(state.key, axisSel.value));
    filter.addEventListener("input", fillKeys);
    draw();
    return { state, update(next) { state.doc = next; draw(); } };
  }

  return { aligner, figure, tables, mount };
})();
