// shelfscan staff page: choose store and bay, take a photo, upload with progress, show fixes.
"use strict";

const $ = (id) => document.getElementById(id);
const api = "/api/v1/stores";
let idempotencyKey = null; // one per photo: a retried upload never makes a second scan

function newKey() {
  // crypto.randomUUID needs a secure context; a store LAN over plain http is not one.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function say(text) { $("status").textContent = text; }

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((body.error && body.error.message) || `HTTP ${response.status}`);
  return body;
}

function option(value, text) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = text;
  return element;
}

async function loadStores() {
  try {
    const stores = await getJson(api);
    const select = $("store");
    select.replaceChildren(option("", stores.length ? "Choose a store" : "No stores yet"));
    for (const store of stores) select.append(option(store.code, `${store.code} – ${store.name}`));
    const remembered = localStorage.getItem("shelfscan.store");
    if (remembered && stores.some((s) => s.code === remembered)) {
      select.value = remembered;
      await loadBays();
    }
  } catch (error) {
    say(`Could not load stores: ${error.message}`);
  }
}

async function loadBays() {
  const store = $("store").value;
  const select = $("bay");
  select.disabled = true;
  select.replaceChildren(option("", store ? "Loading bays…" : "Choose a store first"));
  if (!store) return updateButton();
  localStorage.setItem("shelfscan.store", store);
  try {
    const bays = await getJson(`${api}/${encodeURIComponent(store)}/bays`);
    select.replaceChildren(option("", "Choose a bay"));
    for (const bay of bays) {
      const planned = bay.current_planogram ? "" : " (no planogram)";
      const element = option(bay.code, `${bay.code}${bay.name ? " – " + bay.name : ""}${planned}`);
      element.disabled = !bay.current_planogram;
      select.append(element);
    }
    select.disabled = false;
  } catch (error) {
    say(`Could not load bays: ${error.message}`);
  }
  updateButton();
}

function updateButton() {
  $("upload").disabled = !($("store").value && $("bay").value && $("photo").files.length);
}

function photoChosen() {
  const file = $("photo").files[0];
  idempotencyKey = file ? newKey() : null;
  const preview = $("preview");
  if (file) {
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    $("photo-label").textContent = "Retake the photo";
  }
  updateButton();
}

function upload(attempt = 1) {
  const store = $("store").value;
  const bay = $("bay").value;
  const form = new FormData();
  form.append("photos", $("photo").files[0]);
  const request = new XMLHttpRequest();
  request.open("POST", `${api}/${encodeURIComponent(store)}/bays/${encodeURIComponent(bay)}/scans`);
  request.setRequestHeader("Idempotency-Key", idempotencyKey);
  request.setRequestHeader("Accept", "application/json");
  request.responseType = "json";
  const bar = $("progress");
  bar.hidden = false;
  bar.value = 0;
  bar.dataset.events = "0";
  request.upload.onprogress = (event) => {
    bar.dataset.events = String(Number(bar.dataset.events) + 1);
    if (event.lengthComputable) {
      bar.value = Math.round((event.loaded / event.total) * 100);
      say(`Uploading… ${bar.value}%`);
    }
  };
  request.onload = () => {
    const body = request.response || {};
    if (request.status === 202) {
      bar.value = 100;
      showQuality(body.quality);
      say("Uploaded. Checking the bay…");
      poll(body.url);
    } else {
      $("upload").disabled = false;
      say(body.error ? body.error.message : `Upload failed (HTTP ${request.status})`);
    }
  };
  request.onerror = () => {
    // The same Idempotency-Key: if the first try did arrive, the server answers with that scan.
    if (attempt < 4) {
      say(`Connection lost, retrying (${attempt})…`);
      setTimeout(() => upload(attempt + 1), 1000 * attempt);
    } else {
      $("upload").disabled = false;
      say("Could not upload. Check the connection and try again.");
    }
  };
  request.send(form);
}

function showQuality(quality) {
  const box = $("quality");
  if (quality && quality.retake_hint) {
    box.textContent = `Photo quality: ${quality.retake_hint}`;
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

async function poll(url) {
  let scan;
  try {
    scan = await getJson(url);
  } catch (error) {
    say(`Waiting for the result… (${error.message})`);
    return setTimeout(() => poll(url), 2000);
  }
  // With fast upload checks the worker assesses the photo first: show its hints at once.
  if (scan.quality) showQuality(scan.quality);
  if (scan.status === "done") return showResult(scan);
  if (scan.status === "failed") return showFailure(scan);
  say(scan.status === "processing" ? "Analysing the photo…" : "Queued for analysis…");
  setTimeout(() => poll(url), 1000);
}

function fixesFrom(report) {
  const fixes = [];
  for (const facing of report.facings || []) {
    const where = facing.fixture_id ? `Shelf ${facing.fixture_id}, position ${facing.position_id || facing.facing_id}` : `Facing ${facing.facing_id}`;
    const product = facing.product_name || facing.product_id || "the planned product";
    if (facing.status === "gap") {
      fixes.push({ kind: "gap", text: `${where}: fill with ${product}.` });
    } else if (facing.status === "misplaced") {
      const found = facing.found_label || facing.found_product_id || "another product";
      fixes.push({ kind: "misplaced", text: `${where}: replace ${found} with ${product}.` });
    }
  }
  for (const item of report.unexpected || []) {
    fixes.push({ kind: "unexpected", text: `Remove ${item.label}: ${item.reason || "not in the planogram"}.` });
  }
  return fixes;
}

function showResult(scan) {
  $("progress").hidden = true;
  $("failed").hidden = true;
  const fixes = fixesFrom(scan.report || {});
  const list = $("fixes");
  list.replaceChildren();
  for (const fix of fixes) {
    const item = document.createElement("li");
    item.className = fix.kind;
    const tag = document.createElement("span");
    tag.className = `tag ${fix.kind}`;
    tag.textContent = fix.kind;
    item.append(tag, document.createTextNode(fix.text));
    list.append(item);
  }
  const scores = (scan.report && scan.report.scores) || {};
  const compliance = typeof scores.position_compliance === "number" ? ` Position compliance ${Math.round(scores.position_compliance * 100)} %.` : "";
  $("summary").textContent = fixes.length ? `${fixes.length} fix${fixes.length === 1 ? "" : "es"} needed.${compliance}` : `Nothing to fix.${compliance}`;
  $("annotated").src = scan.annotated_url;
  $("result").hidden = false;
  $("result").dataset.scanId = scan.id;
  say("Done.");
  $("result").scrollIntoView({ behavior: "smooth" });
}

const PHOTO_REJECTED = new Set([
  "empty_file", "file_too_large", "unsupported_format", "content_type_mismatch",
  "image_too_small", "image_too_large", "decompression_bomb", "truncated_image", "corrupt_image",
]);

function showFailure(scan) {
  $("progress").hidden = true;
  const unusable = PHOTO_REJECTED.has(scan.error_code);
  $("failed-reason").textContent = unusable
    ? `The photo could not be used (${scan.error}). Take it again and upload the new photo.`
    : `The analysis failed: ${scan.error || "unknown reason"}`;
  $("failed").dataset.code = scan.error_code || "";
  // A rejected photo has been deleted: retrying cannot help, a new photo can.
  $("retry").hidden = unusable;
  $("failed").hidden = false;
  $("failed").dataset.url = scan.url;
  say("");
}

async function retry() {
  const url = $("failed").dataset.url;
  const response = await fetch(`${url}/retry`, { method: "POST" });
  if (response.status === 202) {
    $("failed").hidden = true;
    say("Queued again…");
    poll(url);
  } else {
    const body = await response.json().catch(() => ({}));
    say(body.error ? body.error.message : `Retry failed (HTTP ${response.status})`);
  }
}

function reset() {
  $("result").hidden = true;
  $("quality").hidden = true;
  $("preview").hidden = true;
  $("photo").value = "";
  $("photo-label").textContent = "Take a photo of the whole bay";
  $("progress").hidden = true;
  say("");
  updateButton();
  window.scrollTo(0, 0);
}

$("store").addEventListener("change", loadBays);
$("bay").addEventListener("change", updateButton);
$("photo").addEventListener("change", photoChosen);
$("scan-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("upload").disabled = true;
  $("result").hidden = true;
  upload();
});
$("retry").addEventListener("click", retry);
$("again").addEventListener("click", reset);
loadStores();
