// Review in the page (issue 18): tap a spot or a fix -> confirm the verdict, or correct it:
// "this is product X" (search the planogram's and catalogue's products), "not a gap: the product
// is there", "gap: nothing there", or "not this bay". The answer is the scan with the corrected
// report (a new version); the page redraws from it at once (app.js: showOutcome).
// Its own module: app.js only calls window.shelfscanReview.show(scan) after drawing a result.
window.shelfscanReview = (() => {
  "use strict";
  const STATUS = { ok: "in place", gap: "empty", misplaced: "other product", not_visible: "not in photo" };
  let scan = null;
  let chosen = null; // { facing } or { unexpected }
  let searchTimer = null;

  const $ = (id) => document.getElementById(id);
  const make = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  // app.js owns credentials, CSRF and expired logins (apiFetch); this module reuses it.
  const request = (url, options) => (typeof apiFetch === "function" ? apiFetch(url, options) : fetch(url, options));

  function panel() {
    let root = $("review");
    if (root) return root;
    root = make("section", "card review");
    root.id = "review";
    root.setAttribute("aria-label", "Check the verdicts");
    root.append(
      make("h2", "", "Check what the camera saw"),
      make("p", "hint", "Tap a spot (or a fix above) to confirm it or correct it."),
    );
    const list = make("ul", "review-spots");
    list.id = "review-spots";
    const sheet = make("div", "review-sheet");
    sheet.id = "review-sheet";
    sheet.hidden = true;
    const wrongBay = make("button", "link", "This photo shows another bay");
    wrongBay.type = "button";
    wrongBay.id = "review-not-this-bay";
    wrongBay.addEventListener("click", () => send({ kind: "not_this_bay" }, "Marked: another bay."));
    root.append(list, sheet, wrongBay);
    const anchor = $("kpis");
    anchor.parentNode.insertBefore(root, anchor.nextSibling);
    return root;
  }

  function reviewed(reason) {
    return /\b(corrected|confirmed) by\b/.test(reason || "");
  }

  function nameOf(productId, fallback) {
    const known = ((scan && scan.report && scan.report.products) || []).find((p) => p.product_id === productId);
    return known ? known.product_name : fallback || productId;
  }

  function spotText(facing) {
    if (facing.status === "ok") return facing.product_name;
    if (facing.status === "gap") return `Empty — planned: ${facing.product_name}`;
    if (facing.status === "not_visible") return `Planned: ${facing.product_name}`;
    const seen = facing.found_product_id ? nameOf(facing.found_product_id, facing.found_label) : facing.found_label;
    return `${seen || "?"} — planned: ${facing.product_name}`;
  }

  function show(current) {
    scan = current;
    const root = panel();
    const report = (scan && scan.report) || {};
    const facings = report.facings || [];
    root.hidden = !facings.length;
    const list = $("review-spots");
    list.replaceChildren(...facings.map((facing) => {
      const item = make("li", `spot ${facing.status}`);
      const button = make("button", "spot-button");
      button.type = "button";
      button.dataset.facingId = facing.facing_id;
      button.append(
        make("span", "spot-status", STATUS[facing.status] || facing.status),
        make("span", "spot-text", spotText(facing)),
      );
      if (reviewed(facing.reason)) {
        item.classList.add("reviewed");
        button.append(make("span", "spot-badge", "reviewed"));
      }
      button.addEventListener("click", () => open({ facing }));
      item.append(button);
      return item;
    }));
    for (const item of report.unexpected || []) {
      const li = make("li", "spot unexpected");
      const button = make("button", "spot-button");
      button.type = "button";
      button.dataset.detectionId = item.detection_id;
      button.append(make("span", "spot-status", "not planned"), make("span", "spot-text", item.label));
      button.addEventListener("click", () => open({ unexpected: item }));
      li.append(button);
      list.append(li);
    }
    // Tapping a fix opens its first spot.
    for (const action of document.querySelectorAll("#actions li.action")) {
      const ids = (action.dataset.facingIds || "").split(" ").filter(Boolean);
      const facing = facings.find((f) => f.facing_id === ids[0]);
      if (!facing) continue;
      action.classList.add("reviewable");
      action.addEventListener("click", (event) => {
        if (event.target.closest("a")) return; // the evidence crops open the photo
        open({ facing });
      });
    }
    $("review-sheet").hidden = true;
  }

  function button(text, className, onClick, id) {
    const node = make("button", className, text);
    node.type = "button";
    if (id) node.id = id;
    node.addEventListener("click", onClick);
    return node;
  }

  function open(target) {
    chosen = target;
    const sheet = $("review-sheet");
    const facing = target.facing;
    const title = facing ? spotText(facing) : `Not planned: ${target.unexpected.label}`;
    const crop = facing && scan.evidence ? scan.evidence[facing.facing_id] : null;
    const parts = [make("h3", "", title)];
    if (crop) {
      const img = make("img", "review-crop");
      img.src = crop;
      img.alt = "What the camera saw here";
      parts.push(img);
    }
    const status = facing ? facing.status : "unexpected";
    parts.push(button("Right: confirm", "", () => send(which({ kind: "confirm" }), "Confirmed."), "review-confirm"));
    if (facing && status === "gap") {
      parts.push(button("Not a gap: the product is there", "secondary", () => send(which({ kind: "not_gap" }), "Corrected: not a gap."), "review-not-gap"));
    } else if (status !== "not_visible") {
      parts.push(button("Gap: nothing there", "secondary", () => send(which({ kind: "gap" }), "Corrected: nothing there."), "review-gap"));
    }
    const label = make("label", "", "No — this is product:");
    label.htmlFor = "review-search";
    const search = make("input");
    search.id = "review-search";
    search.type = "search";
    search.placeholder = "Name, id or GTIN";
    search.autocomplete = "off";
    const results = make("ul", "review-products");
    results.id = "review-products";
    search.addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => findProducts(search.value, results), 200);
    });
    parts.push(label, search, results, button("Cancel", "link", () => { sheet.hidden = true; }, "review-cancel"));
    sheet.replaceChildren(...parts);
    sheet.hidden = false;
    findProducts("", results);
    sheet.scrollIntoView({ block: "start" });
  }

  function which(body) {
    return chosen.facing
      ? Object.assign(body, { facing_id: chosen.facing.facing_id })
      : Object.assign(body, { detection_id: chosen.unexpected.detection_id });
  }

  async function findProducts(query, results) {
    const url = `${scan.url}/products?q=${encodeURIComponent(query.trim())}&limit=8`;
    try {
      const response = await request(url, { headers: { Accept: "application/json" } });
      const products = await response.json();
      if (!response.ok) throw new Error((products.error && products.error.message) || `HTTP ${response.status}`);
      results.replaceChildren(...products.map((product) => {
        const li = make("li");
        const pick = button(product.name, "secondary product-choice", () =>
          send(which({ kind: "product", product_id: product.product_id }), `Corrected: this is ${product.name}.`));
        pick.dataset.productId = product.product_id;
        li.append(pick);
        return li;
      }));
    } catch (error) {
      results.replaceChildren(make("li", "error", `Products could not be searched: ${error.message}`));
    }
  }

  async function send(body, done) {
    const status = $("status");
    status.textContent = "Saving the correction…";
    try {
      const response = await request(`${scan.url}/corrections`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error((answer.error && answer.error.message) || `HTTP ${response.status}`);
      // The corrected scan, drawn at once: fixes, scores and this list come from the new report.
      if (typeof showOutcome === "function") showOutcome(answer.scan);
      else show(answer.scan);
      status.textContent = `${done} Report version ${answer.report_version}.`;
      document.body.dataset.reportVersion = String(answer.report_version);
    } catch (error) {
      status.textContent = `Not saved: ${error.message}`;
    }
  }

  return { show };
})();
