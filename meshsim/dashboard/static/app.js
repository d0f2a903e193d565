// meshsim's dashboard page, written by hand and kept small on purpose: the
// graph and the charts are SVG drawn on the server by the code report.html
// uses (meshsim/dashboard/view.py), so this script only follows the state
// (server-sent events while the run goes on, /api/state?t= under the replay
// slider), lists the phases and expectations, and swaps the SVG in.
"use strict";

const $ = (selector) => document.querySelector(selector);
let following = true; // live: each state from /api/events is shown
let viewBusy = false;
let viewNext = null;
let stateBusy = false;
let stateNext = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function seconds(value) {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(1)} s`;
}

function observed(e) {
  if (e.observed === null || e.observed === undefined) return e.note ? ` (${e.note})` : "";
  const v = e.unit === "fraction" ? `${(e.observed * 100).toFixed(2)}%` : `${+e.observed.toFixed(3)}${e.unit || ""}`;
  return ` — observed ${v}`;
}

function phaseItem(phase, t) {
  const meta = [];
  if (phase.status === "running" && phase.planned_s) {
    meta.push(`${seconds(Math.max(0, phase.planned_s - (t - phase.started_s)))} left of ${seconds(phase.planned_s)}`);
  } else if (phase.planned_s) {
    meta.push(seconds(phase.planned_s));
  }
  if (phase.applied.length) meta.push(`applies ${phase.applied.join(", ")}`);
  if (phase.removed.length) meta.push(`removes ${phase.removed.join(", ")}`);
  for (const a of phase.actions) meta.push(`${a.verb} ${a.target}${a.done ? " ✓" : ""}`);
  const expects = el("ul", { class: "expect" });
  for (const e of phase.expectations) {
    expects.append(el("li", { "data-expect": e.text, "data-status": e.status, "data-phase": phase.name }, e.text + observed(e)));
  }
  return el(
    "li",
    { "data-phase": phase.name, "data-index": phase.index, "data-status": phase.status },
    el("div", null, el("span", { class: "phase-name" }, phase.name), ` · ${phase.status.replace("_", " ")}`),
    el("div", { class: "phase-meta" }, meta.join(" · ")),
    expects,
  );
}

// A waterfall is a few positioned bars: plain elements, no charting library.
function traces(list) {
  if (!list || !list.length) return el("p", { class: "note" }, "no traces in the last 30 s");
  const box = el("div");
  list.forEach((tr, i) => {
    const rows = el("div", { class: "waterfall" });
    for (const span of tr.spans) {
      const left = (100 * span.offset_ms) / (tr.duration_ms || 1);
      const width = Math.max(0.5, (100 * span.duration_ms) / (tr.duration_ms || 1));
      const bad = span.status === null || span.status >= 500;
      rows.append(
        el("div", { class: "span-row" },
          el("span", { class: "span-label", style: `padding-left:${span.depth * 10}px` }, `${span.label} ${span.name}`),
          el("span", { class: "span-track" },
            el("span", { class: bad ? "bar bad" : span.critical ? "bar critical" : "bar", style: `left:${left}%;width:${width}%` })),
          el("span", { class: "span-ms" }, `${span.duration_ms} ms`)));
    }
    const details = el("details", { "data-trace": tr.trace_id },
      el("summary", null, `${tr.name} · ${tr.duration_ms} ms · ${tr.status ?? "no answer"} · at ${seconds(tr.start_s)} · ${tr.services.join(", ")}`),
      rows);
    if (i === 0) details.open = true;
    box.append(details);
  });
  return box;
}

function render(state) {
  const run = state.run;
  $("#scenario").textContent = run.scenario || run.id;
  $("#status").textContent = state.live ? "live" : run.status;
  $("#meta").textContent = `run ${run.id} · ${run.runtime || ""} · t = ${seconds(state.t)} of ${seconds(state.duration_s)}${run.error ? " · " + run.error : ""}`;
  const timeline = $("#timeline");
  timeline.replaceChildren(...state.phases.map((p) => phaseItem(p, state.t)));
  $("#traces").replaceChildren(traces(state.slowest));
  const slider = $("#slider");
  slider.max = String(state.duration_s);
  if (!state.live) {
    $("#replay").hidden = false;
    if (following) slider.value = String(state.t);
  }
  $("#slider-t").textContent = seconds(state.t);
  document.body.dataset.connected = "true";
  requestView(following && state.live ? null : state.t);
}

async function requestView(t) {
  if (viewBusy) {
    viewNext = { t };
    return;
  }
  viewBusy = true;
  try {
    const response = await fetch(t === null ? "/api/view" : `/api/view?t=${t}`);
    if (response.ok) {
      const view = await response.json();
      $("#graph").innerHTML = view.graph;
      $("#charts").innerHTML = view.charts;
    }
  } finally {
    viewBusy = false;
    if (viewNext) {
      const next = viewNext;
      viewNext = null;
      requestView(next.t);
    }
  }
}

async function stateAt(t) {
  if (stateBusy) {
    stateNext = t;
    return;
  }
  stateBusy = true;
  try {
    const response = await fetch(t === null ? "/api/state" : `/api/state?t=${t}`);
    if (response.ok) render(await response.json());
  } finally {
    stateBusy = false;
    if (stateNext !== null) {
      const next = stateNext;
      stateNext = null;
      stateAt(next);
    }
  }
}

$("#slider").addEventListener("input", (event) => {
  following = false;
  stateAt(Number(event.target.value));
});

const events = new EventSource("/api/events");
events.addEventListener("state", (event) => {
  if (following) render(JSON.parse(event.data));
});
stateAt(null);
