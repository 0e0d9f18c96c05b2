// Today's audit checklist on the staff page (scheduled store audits): the chosen store's open,
// in-progress and overdue audits with each bay to photograph, being analysed, needing a retake
// or done. Tapping a bay chooses it in the form below; the scan is counted towards the audit by
// the server (a scan of a bay of an open audit of that store). Self-contained: reads #store and
// #bay, places itself before #scan-form, brings its own style sheet (audits.css) and asks
// app.js's apiFetch for credentials when the page has it (a device token or a session).
"use strict";

(function () {
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const LABELS = { to_photograph: "to photograph", processing: "analysing…", retake: "retake", done: "done ✓" };
  const STATES = { open: "open", in_progress: "in progress", overdue: "overdue", done: "done ✓" };

  function styleSheet() {
    if (document.querySelector('link[href="/static/audits.css"]')) return;
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = "/static/audits.css";
    document.head.append(link);
  }

  // "11:00" today; "Mon 11:00" for an audit due another day (an overdue one from yesterday).
  function dueText(when) {
    const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (when.toDateString() === new Date().toDateString()) return time;
    return `${when.toLocaleDateString([], { weekday: "short" })} ${time}`;
  }

  function section() {
    let node = document.getElementById("audit-checklist");
    if (!node) {
      node = el("section", "card audit-checklist");
      node.id = "audit-checklist";
      node.setAttribute("aria-label", "Today's audits");
      node.hidden = true;
      // Above the photo step, where the clerk chooses what to photograph.
      const form = document.getElementById("scan-form");
      const main = document.querySelector("main");
      if (form && form.parentNode) form.parentNode.insertBefore(node, form);
      else if (main) main.prepend(node);
    }
    return node;
  }

  function get(url) {
    // app.js's apiFetch carries the page's credentials and handles an expired login.
    if (typeof window.apiFetch === "function") return window.apiFetch(url);
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  }

  function chooseBay(code) {
    const bay = document.getElementById("bay");
    if (!bay) return;
    bay.value = code;
    bay.dispatchEvent(new Event("change", { bubbles: true }));
    markChosen();
  }

  function markChosen() {
    const chosen = (document.getElementById("bay") || {}).value;
    for (const button of document.querySelectorAll("#audit-checklist .bay-button")) {
      button.setAttribute("aria-pressed", String(button.dataset.bay === chosen));
    }
  }

  async function refresh() {
    const store = (document.getElementById("store") || {}).value;
    const box = section();
    if (!store) { box.hidden = true; return; }
    let body;
    try {
      const response = await get(`/api/v1/stores/${encodeURIComponent(store)}/audits/checklist`);
      if (!response.ok) { box.hidden = true; return; }
      body = await response.json();
    } catch (error) { box.hidden = true; return; }
    box.replaceChildren(el("h2", "", "Today's audits"));
    if (!body.occurrences.length) {
      box.append(el("p", "muted", "No audit due now."));
    }
    for (const audit of body.occurrences) {
      const card = el("div", `audit audit-${audit.state}`);
      card.dataset.occurrence = String(audit.id);
      card.dataset.state = audit.state;
      const due = dueText(new Date(audit.due_at));
      const head = el("p", "audit-head");
      head.append(el("strong", "", audit.schedule), el("span", `badge state-${audit.state}`,
        STATES[audit.state] || audit.state), el("span", "muted", `due ${due}`));
      card.append(head);
      const list = el("ul", "audit-bays");
      for (const bay of audit.bays) {
        const item = el("li", `bay-${bay.status}`);
        item.dataset.bay = bay.bay;
        item.dataset.status = bay.status;
        const button = el("button", "bay-button", `${bay.bay}${bay.name && bay.name !== bay.bay ? " – " + bay.name : ""}`);
        button.type = "button";
        button.dataset.bay = bay.bay;
        button.disabled = bay.status === "done" || bay.status === "processing";
        button.addEventListener("click", () => chooseBay(bay.bay));
        item.append(button, el("span", `badge status-${bay.status}`, LABELS[bay.status] || bay.status));
        list.append(item);
      }
      card.append(list);
      box.append(card);
    }
    if (body.open_tasks) {
      box.append(el("p", "muted", `${body.open_tasks} corrective task${body.open_tasks === 1 ? "" : "s"} open`));
    }
    box.hidden = false;
    markChosen();
  }

  document.addEventListener("change", (event) => {
    if (event.target && event.target.id === "store") refresh();
    if (event.target && event.target.id === "bay") markChosen();
  });
  document.addEventListener("DOMContentLoaded", () => {
    styleSheet();
    refresh();
    // A scan's outcome shown (app.js sets body[data-state]): its bay is done or needs a retake.
    new MutationObserver(() => {
      if (["result", "retake", "failed", "setup"].includes(document.body.dataset.state)) refresh();
    }).observe(document.body, { attributes: true, attributeFilter: ["data-state"] });
  });
  setInterval(refresh, 15000); // a scan being analysed turns done or retake without a reload
  window.shelfscanAuditChecklist = { refresh };
})();
