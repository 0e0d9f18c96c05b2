// Today's audit checklist on the staff page (scheduled store audits): the chosen store's open,
// in-progress and overdue audits with each bay to photograph, being analysed, needing a retake
// or done. Tapping a bay chooses it above; the scan is counted towards the audit by the server
// (a scan of a bay of an open audit of that store). Self-contained: reads #store and #bay only.
"use strict";

(function () {
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const LABELS = { to_photograph: "to photograph", processing: "analysing…", retake: "retake", done: "done" };

  function section() {
    let node = document.getElementById("audit-checklist");
    if (!node) {
      node = el("section", "card audit-checklist");
      node.id = "audit-checklist";
      node.hidden = true;
      const main = document.querySelector("main");
      if (main) main.prepend(node);
    }
    return node;
  }

  function chooseBay(code) {
    const bay = document.getElementById("bay");
    if (!bay) return;
    bay.value = code;
    bay.dispatchEvent(new Event("change", { bubbles: true }));
  }

  async function refresh() {
    const store = (document.getElementById("store") || {}).value;
    const box = section();
    if (!store) { box.hidden = true; return; }
    let body;
    try {
      const response = await fetch(`/api/v1/stores/${encodeURIComponent(store)}/audits/checklist`, {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      if (!response.ok) { box.hidden = true; return; }
      body = await response.json();
    } catch (error) { box.hidden = true; return; }
    box.replaceChildren(el("h2", "", "Today's audits"));
    if (!body.occurrences.length) {
      box.append(el("p", "muted", "No audit due now."));
    }
    for (const audit of body.occurrences) {
      const card = el("div", `audit audit-${audit.state}`);
      const due = new Date(audit.due_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const head = el("p", "audit-head");
      head.append(el("strong", "", audit.schedule), el("span", `badge state-${audit.state}`,
        audit.state === "overdue" ? "overdue" : audit.state.replace("_", " ")), el("span", "muted", ` due ${due}`));
      card.append(head);
      const list = el("ul", "audit-bays");
      for (const bay of audit.bays) {
        const item = el("li", `bay-${bay.status}`);
        const button = el("button", "bay-button", `${bay.bay}${bay.name ? " – " + bay.name : ""}`);
        button.type = "button";
        button.disabled = bay.status === "done" || bay.status === "processing";
        button.addEventListener("click", () => chooseBay(bay.bay));
        item.append(button, el("span", `badge status-${bay.status}`, LABELS[bay.status] || bay.status));
        list.append(item);
      }
      card.append(list);
      box.append(card);
    }
    if (body.open_tasks) box.append(el("p", "muted", `${body.open_tasks} corrective task(s) open`));
    box.hidden = false;
  }

  document.addEventListener("change", (event) => {
    if (event.target && event.target.id === "store") refresh();
  });
  document.addEventListener("DOMContentLoaded", refresh);
  setInterval(refresh, 15000); // a scan being analysed turns done or retake without a reload
  window.shelfscanAuditChecklist = { refresh };
})();
