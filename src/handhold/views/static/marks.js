// Phase-mark toggles, one per kind of mark (trend labels, change points, shocks, divergence,
// memorized/generalized): shared by the dashboard (loaded by index.html) and the static report
// (inlined). The server names every mark "phase:<...>"; `kinds` ([{kind, label, names}]) says
// which names a toggle covers. The choice is kept in localStorage, so it survives a reload.
"use strict";

const HandholdMarks = (() => {
  const STORE = "handhold.hiddenMarks";

  function hidden() {
    try { return new Set(JSON.parse(localStorage.getItem(STORE) || "[]")); } catch (e) { return new Set(); }
  }

  function save(set) {
    try { localStorage.setItem(STORE, JSON.stringify([...set])); } catch (e) { /* private mode */ }
  }

  function kindOf(name, kinds) {
    if (!name) return null;
    const k = kinds.find((x) => x.names.includes(name));
    return k ? k.kind : null;
  }

  // a copy of `layout` whose marks of a hidden kind have visible: false (the others true)
  function apply(layout, kinds, off) {
    const flip = (items) => (items || []).map((it) => {
      const kind = kindOf(it.name, kinds);
      return kind === null ? it : { ...it, visible: !off.has(kind) };
    });
    return { ...layout, shapes: flip(layout.shapes), annotations: flip(layout.annotations) };
  }

  // the marks of each kind in these layouts (a shock mark is one annotation; a band or line one shape)
  function count(layouts, kinds) {
    const n = Object.fromEntries(kinds.map((k) => [k.kind, 0]));
    for (const layout of layouts) {
      for (const it of [...(layout.shapes || []), ...(layout.annotations || [])]) {
        const kind = kindOf(it.name, kinds);
        const shapeKind = kind !== "trend" && kind !== "shock"; // trends and shocks are text marks
        if (kind !== null && (it.type !== undefined) === shapeKind) n[kind] += 1;
      }
    }
    return n;
  }

  // fill `box` with one checkbox per kind present; onChange(hiddenSet) after each click
  function bar(box, kinds, counts, onChange) {
    const off = hidden();
    box.replaceChildren();
    for (const k of kinds) {
      if (!counts[k.kind]) continue;
      const input = document.createElement("input");
      input.type = "checkbox";
      input.checked = !off.has(k.kind);
      input.dataset.kind = k.kind;
      input.addEventListener("change", () => {
        const now = hidden();
        if (input.checked) now.delete(k.kind); else now.add(k.kind);
        save(now);
        onChange(now);
      });
      const label = document.createElement("label");
      label.className = "mark-toggle mark-" + k.kind;
      label.append(input, " " + k.label + " ", Object.assign(document.createElement("span"),
        { className: "mark-count", textContent: "(" + counts[k.kind] + ")" }));
      box.append(label);
    }
  }

  return { hidden, apply, count, bar };
})();
