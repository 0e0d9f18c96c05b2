// shelfscan compliance dashboard: reads /api/v1/analytics/*, draws the Vega-Lite specs the server
// builds (the same specs as the weekly report), compiled to Vega by the server. No inline
// script: the CSP forbids it.
"use strict";

const API = "/api/v1/analytics";
const KPIS = [
  ["on_shelf_availability", "On-shelf availability", true],
  ["out_of_stock_rate", "Out of stock", false],
  ["planogram_compliance", "Planogram compliance", true],
  ["facings_compliance", "Facings compliance", true],
  ["scans_done_rate", "Scans done vs expected", true],
];
const FILTERS = ["from", "to", "region", "store", "category", "brand"];
// mode "vega": the server compiled each chart (?format=vega), so the page loads no Vega-Lite.
const EMBED = { actions: false, ast: true, renderer: "svg", mode: "vega" };

const $ = (selector) => document.querySelector(selector);
const pct = (v, digits = 1) => (v === null || v === undefined ? "–" : (v * 100).toFixed(digits) + " %");
const signed = (v) => (v === null || v === undefined ? "" : (v >= 0 ? "+" : "") + (v * 100).toFixed(1) + " pt");

function params() {
  const query = new URLSearchParams(location.search);
  const out = new URLSearchParams();
  for (const name of FILTERS) if (query.get(name)) out.set(name, query.get(name));
  return out;
}

async function get(path, extra = {}) {
  const query = params();
  for (const [k, v] of Object.entries(extra)) query.set(k, v);
  const response = await fetch(`${path}?${query}`, { headers: { Accept: "application/json" } });
  if (response.status === 401) throw new Error("Sign in on the staff page (/) to see the dashboard.");
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).error.message; } catch (_) { /* keep status text */ }
    throw new Error(detail);
  }
  return response.json();
}

function cell(row, text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text instanceof Node) td.appendChild(text); else td.textContent = text ?? "";
  row.appendChild(td);
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function table(id, headers, rows, render) {
  const el = document.getElementById(id);
  el.replaceChildren();
  const head = el.createTHead().insertRow();
  for (const [text, numeric] of headers) {
    const th = document.createElement("th");
    th.textContent = text;
    if (numeric) th.className = "num";
    head.appendChild(th);
  }
  const body = el.createTBody();
  if (!rows.length) { const tr = body.insertRow(); cell(tr, "Nothing to show for these filters."); }
  for (const row of rows) render(body.insertRow(), row);
}

function storeHref(code) {
  const query = params();
  query.set("store", code);
  return `/dashboard?${query}`;
}

async function fillFilters() {
  const dims = await get(`${API}/dimensions`);
  const form = $("#filters");
  const query = new URLSearchParams(location.search);
  const options = { region: dims.regions, store: dims.stores, category: dims.categories, brand: dims.brands };
  for (const [name, values] of Object.entries(options)) {
    const select = form.elements[name];
    for (const value of values) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = name === "store" ? `${value} · ${dims.store_names[value] || ""}` : value;
      select.appendChild(option);
    }
    select.value = query.get(name) || "";
  }
  if (dims.last_day) {
    // Whole weeks: from a Monday 8 weeks back to the Sunday of the latest week with scans,
    // so that no week is cut short (scans done vs expected counts whole weeks).
    const last = new Date(dims.last_day + "T00:00:00Z");
    const sunday = new Date(last.getTime() + ((7 - last.getUTCDay()) % 7) * 86400000);
    const monday = new Date(sunday.getTime() - 55 * 86400000);
    form.elements.to.value = query.get("to") || sunday.toISOString().slice(0, 10);
    form.elements.from.value = query.get("from") || monday.toISOString().slice(0, 10);
  }
  const store = query.get("store");
  if (store) {
    document.body.classList.add("store");
    $("#scope-title").textContent = `· ${store} ${dims.store_names[store] || ""}`;
  } else if (query.get("region")) {
    $("#scope-title").textContent = `· region ${query.get("region")}`;
  }
  return dims;
}

function dateRange() {
  const form = $("#filters");
  return { from: form.elements.from.value, to: form.elements.to.value };
}

async function tiles() {
  const page = await get(`${API}/kpis`, { level: params().get("store") ? "store" : "chain", by: "week", ...dateRange() });
  const rows = page.rows;
  const holder = $("#tiles");
  holder.replaceChildren();
  const last = rows[rows.length - 1];
  const before = rows[rows.length - 2];
  for (const [field, label, higherIsBetter] of KPIS) {
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.dataset.kpi = field;
    const value = last ? last[field] : null;
    const change = last && before && last[field] !== null && before[field] !== null ? last[field] - before[field] : null;
    const good = change === null ? "" : (change >= 0) === higherIsBetter ? "good" : "bad";
    tile.innerHTML = `<div class="name"></div><div class="value"></div><div class="change ${good}"></div><div class="spark"></div>`;
    tile.querySelector(".name").textContent = label;
    tile.querySelector(".value").textContent = pct(value);
    tile.querySelector(".change").textContent = change === null ? "no previous week" : `${signed(change)} vs previous week`;
    holder.appendChild(tile);
    sparkline(tile.querySelector(".spark"), rows.map((r) => r[field]).filter((v) => v !== null));
  }
}

// A tile's trend as a plain SVG line: compiling a Vega-Lite spec per tile cost more of the
// first render than the line is worth (five tiles, five compilations).
function sparkline(holder, values) {
  if (values.length < 2) return;
  const low = Math.min(...values), high = Math.max(...values);
  const span = high - low || 1;
  const points = values.map((v, i) => `${(i / (values.length - 1)) * 100},${34 - ((v - low) / span) * 32}`);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 100 36");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("width", "100%");
  svg.setAttribute("height", "36");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "trend");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#607080");
  line.setAttribute("stroke-width", "1.5");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.appendChild(line);
  holder.appendChild(svg);
}

// Vega's scripts come after this one: they have run once the document has loaded.
const vegaLoaded = new Promise((resolve) => {
  if (window.vegaEmbed) resolve();
  else document.addEventListener("DOMContentLoaded", () => resolve(), { once: true });
});

async function chart(name) {
  const spec = await get(`${API}/charts/${name}`, { ...dateRange(), format: "vega" });
  await vegaLoaded;
  await window.vegaEmbed(`#chart-${name}`, spec, EMBED);
}

async function league() {
  const range = dateRange();
  const page = await get(`${API}/league`, { from: range.to ? new Date(new Date(range.to).getTime() - 6 * 86400000).toISOString().slice(0, 10) : "", to: range.to });
  table("league", [["#"], ["Store"], ["Region"], ["Compliance", true], ["Change", true], ["OSA", true], ["OOS", true]], page.rows, (tr, row) => {
    cell(tr, row.rank);
    cell(tr, link(storeHref(row.store), `${row.store} · ${row.store_name || ""}`));
    cell(tr, row.region);
    cell(tr, pct(row.planogram_compliance), "num");
    const change = row.planogram_compliance_change;
    cell(tr, signed(change), "num " + (change > 0 ? "up" : change < 0 ? "down" : ""));
    cell(tr, pct(row.on_shelf_availability), "num");
    cell(tr, pct(row.out_of_stock_rate), "num");
  });
}

async function offenders() {
  const page = await get(`${API}/offenders`, { n: 3, m: 4, limit: 30 });
  table("offenders", [["Store"], ["Bay"], ["Facing"], ["Product"], ["Last 4", true]], page.rows, (tr, row) => {
    cell(tr, link(storeHref(row.store), row.store));
    cell(tr, row.bay);
    cell(tr, row.facing_id);
    cell(tr, row.product_name);
    cell(tr, row.history, "num");
  });
}

async function scans() {
  const rows = await get(`${API}/scans`, { ...dateRange(), limit: 50 });
  table("scans", [["When"], ["Bay"], ["OSA", true], ["Empty", true], ["Wrong", true], ["Scan"]], rows, (tr, row) => {
    cell(tr, new Date(row.scanned_at).toLocaleString());
    cell(tr, row.bay);
    cell(tr, pct(row.on_shelf_availability), "num");
    cell(tr, row.gap, "num");
    cell(tr, row.misplaced, "num");
    cell(tr, row.photo_url ? link(row.photo_url, "photo") : row.source === "synth" ? "synthetic" : "");
  });
}

async function main() {
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const name of FILTERS) { const v = event.target.elements[name].value; if (v) query.set(name, v); }
    location.search = query.toString();
  });
  try {
    await fillFilters();
    const store = params().get("store");
    const jobs = [tiles(), chart("trend"), chart("top-out-of-stock"), chart("scans-done"), offenders()];
    if (store) jobs.push(chart("heatmap"), scans()); else jobs.push(league());
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) $("#message").textContent = failed.reason.message;
  } catch (error) {
    $("#message").textContent = error.message;
  }
  document.body.dataset.ready = "true";
}

// A deferred script runs once the page is parsed: start at once, not after Vega has loaded.
main();
