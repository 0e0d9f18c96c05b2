// Admin page of scheduled store audits: schedules (add, pause/resume), occurrences with their
// reports, and the webhook delivery log.
"use strict";

const A = "/api/v1/audits";
const csrf = () => (document.cookie.match(/(?:^|; )shelfscan_csrf=([^;]+)/) || [])[1];

async function call(url, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  if (options.method && options.method !== "GET" && csrf()) headers["X-CSRF-Token"] = decodeURIComponent(csrf());
  const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options, { headers }));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    // The API names the input to blame: say which field, then what is wrong with it.
    const error = body.error || {};
    const text = error.message || `HTTP ${response.status}`;
    throw new Error(error.field ? `${error.field}: ${text}` : text);
  }
  return body;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell); else td.textContent = cell;
    tr.append(td);
  }
  return tr;
}

async function load() {
  const schedules = await call(`${A}/schedules`);
  document.querySelector("#schedules tbody").replaceChildren(...schedules.map((s) => {
    const toggle = document.createElement("button");
    toggle.textContent = s.paused ? "Resume" : "Pause";
    toggle.addEventListener("click", async () => {
      await call(`${A}/schedules/${s.id}/${s.paused ? "resume" : "pause"}`, { method: "POST" });
      load();
    });
    const scope = s.scope_kind + (s.scope_codes.length ? `: ${s.scope_codes.join(", ")}` : "");
    const bays = s.bay_selection + (s.bay_category ? `: ${s.bay_category}` : s.bay_codes.length ? `: ${s.bay_codes.join(", ")}` : "");
    return row([String(s.id), s.name, s.rrule, scope, bays, toggle]);
  }));
  const occurrences = await call(`${A}/occurrences?limit=100`);
  document.querySelector("#occurrences tbody").replaceChildren(...occurrences.map((o) => {
    const link = document.createElement("a");
    link.href = o.report_url; link.textContent = "HTML";
    return row([o.store, o.schedule, `${o.local_start.replace("T", " ")} ${o.time_zone}`, o.state, link]);
  }));
  const deliveries = await call(`${A}/deliveries?limit=50`);
  document.querySelector("#deliveries tbody").replaceChildren(...deliveries.map((d) =>
    row([d.event_type, d.state, String(d.attempts), d.last_status === null ? "–" : String(d.last_status)])));
}

document.getElementById("schedule-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const codes = (name) => String(form.get(name) || "").split(",").map((c) => c.trim()).filter(Boolean);
  const selection = form.get("bay_selection");
  const body = {
    name: form.get("name"), rrule: form.get("rrule"), starts_on: form.get("starts_on"),
    open_minutes: Number(form.get("open_minutes")), scope_kind: form.get("scope_kind"),
    scope_codes: codes("scope_codes"), bay_selection: selection,
    bay_category: selection === "category" ? form.get("bays") : null,
    bay_codes: selection === "list" ? codes("bays") : [],
  };
  const error = document.getElementById("schedule-error");
  try {
    await call(`${A}/schedules`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    error.hidden = true;
    load();
  } catch (problem) {
    error.textContent = problem.message; error.hidden = false;
  }
});
document.querySelector("[name=starts_on]").valueAsDate = new Date();
load().catch((problem) => { document.getElementById("schedule-error").textContent = problem.message; document.getElementById("schedule-error").hidden = false; });
