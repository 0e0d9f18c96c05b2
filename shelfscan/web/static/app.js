// shelfscan staff page: choose store and bay, take a photo, upload with progress, then either
// the retake instruction (a photo that cannot be trusted: no fixes shown) or the list of
// actions with their evidence crops, three scores and the annotated photo.
"use strict";

const $ = (id) => document.getElementById(id);
const api = "/api/v1/stores";
let idempotencyKey = null; // one per photo and bay: a retried upload never makes a second scan
let lastScan = null;

// --- Talking to the API ----------------------------------------------------------------------
// Every request goes through apiHeaders() and apiFetch() (the upload, which needs progress
// events, through XMLHttpRequest with apiHeaders()): credentials, CSRF tokens and the handling
// of an expired login belong here and nowhere else.

function apiHeaders(extra = {}) {
  const auth = window.shelfscanAuth ? window.shelfscanAuth.headers() : {}; // auth.js
  return Object.assign({ Accept: "application/json" }, auth, extra);
}

function signInAgainOn401(status) {
  if (status === 401 && window.shelfscanAuth) window.shelfscanAuth.unauthorized();
}

async function apiFetch(url, options = {}) {
  const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options, {
    headers: apiHeaders(options.headers || {}),
  }));
  signInAgainOn401(response.status);
  return response;
}

async function getJson(url) {
  const response = await apiFetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((body.error && body.error.message) || `HTTP ${response.status}`);
  return body;
}

function newKey() {
  // crypto.randomUUID needs a secure context; a store LAN over plain http is not one.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- Small DOM helpers -------------------------------------------------------------------------

function say(text) { $("status").textContent = text; }

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function option(value, text) {
  const node = element("option", "", text);
  node.value = value;
  return node;
}

// The page's states: setup → ready (photo chosen) → uploading → result | retake | failed.
// CSS hides the form in result and retake; the bottom bar shows the next step of each state.
function setState(state) {
  document.body.dataset.state = state;
  const after = state === "result" || state === "retake" || state === "failed";
  $("upload").hidden = after;
  $("new-photo").hidden = !after;
  $("again").hidden = !after;
  if (state !== "uploading") $("progress").hidden = true;
  updateButton();
}

function showWhere() {
  const store = $("store").value;
  const bay = $("bay").value;
  $("where").textContent = store && bay ? `Store ${store} · bay ${bay}` : "Photograph a bay, get the list of fixes.";
}

// --- Store and bay -----------------------------------------------------------------------------

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
      const node = option(bay.code, `${bay.code}${bay.name ? " – " + bay.name : ""}${planned}`);
      node.disabled = !bay.current_planogram;
      select.append(node);
    }
    select.disabled = false;
  } catch (error) {
    say(`Could not load bays: ${error.message}`);
  }
  updateButton();
}

function bayChosen() {
  // The same photo for another bay is another scan.
  if ($("photo").files.length) idempotencyKey = newKey();
  showWhere();
  updateButton();
}

function updateButton() {
  $("upload").disabled = !($("store").value && $("bay").value && $("photo").files.length);
}

// --- Photo and upload --------------------------------------------------------------------------

function photoChosen() {
  const file = $("photo").files[0];
  idempotencyKey = file ? newKey() : null;
  const preview = $("preview");
  if (file) {
    if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    $("photo-label").textContent = "Retake the photo";
    clearOutcome();
    setState("ready");
    say($("bay").value ? "" : "Choose the bay, then upload.");
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
  const headers = apiHeaders({ "Idempotency-Key": idempotencyKey });
  for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
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
      signInAgainOn401(request.status);
      setState("ready");
      say(body.error ? body.error.message : `Upload failed (HTTP ${request.status})`);
    }
  };
  request.onerror = () => {
    // The same Idempotency-Key: if the first try did arrive, the server answers with that scan.
    if (attempt < 4) {
      say(`Connection lost, retrying (${attempt})…`);
      setTimeout(() => upload(attempt + 1), 1000 * attempt);
    } else {
      setState("ready");
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
  if (scan.status === "done" || scan.status === "inconclusive") return showOutcome(scan);
  if (scan.status === "failed") return showFailure(scan);
  say(scan.status === "processing" ? "Analysing the photo…" : "Queued for analysis…");
  setTimeout(() => poll(url), 1000);
}

// --- The outcome: retake first, or the actions ---------------------------------------------------

function trustOf(scan) {
  return scan.trust || (scan.report && scan.report.trust) || null;
}

function clearOutcome() {
  for (const id of ["result", "retake", "failed", "unreliable", "likely-bay", "show-anyway"]) $(id).hidden = true;
  $("actions").replaceChildren();
  $("kpis").replaceChildren();
}

function showOutcome(scan) {
  lastScan = scan;
  clearOutcome();
  const trust = trustOf(scan);
  const inconclusive = scan.status === "inconclusive" || (trust && trust.conclusive === false);
  const badPhoto = scan.quality && scan.quality.ok === false;
  if (inconclusive || badPhoto) {
    showRetake(scan, trust, inconclusive);
  } else {
    showResult(scan);
  }
  window.scrollTo(0, 0);
}

function showRetake(scan, trust, inconclusive) {
  const instruction = (trust && trust.instruction)
    || (scan.quality && scan.quality.retake_hint)
    || "This photo cannot be read reliably. Take it again.";
  $("retake-instruction").textContent = instruction;
  $("retake").dataset.reason = (trust && trust.reason) || (inconclusive ? "inconclusive" : "photo_quality");
  const likely = trust && trust.likely_bay;
  const current = $("bay").value;
  const switchable = likely && likely.bay && likely.bay !== current
    && Array.from($("bay").options).some((o) => o.value === likely.bay && !o.disabled);
  if (likely && likely.bay && likely.bay !== current) {
    const name = likely.planogram_name ? `${likely.bay} (${likely.planogram_name})` : likely.bay;
    $("likely-bay-name").textContent = name;
    // The instruction may already say it ("This looks like bay drinks…"): not twice.
    $("likely-bay-text").hidden = instruction.includes(`bay ${likely.bay}`);
    $("switch-bay").textContent = `Switch to bay ${likely.bay} and check this photo there`;
    $("switch-bay").dataset.bay = likely.bay;
    $("switch-bay").hidden = !switchable;
    $("likely-bay").hidden = false;
  }
  // A conclusive scan of a poor photo may be right: it can be opened, clearly marked.
  $("show-anyway").hidden = inconclusive || !(scan.actions || (scan.report && scan.report.actions));
  $("retake").hidden = false;
  setState("retake");
  say(inconclusive ? "No result: retake the photo." : "The photo has problems: retake it.");
}

function switchBay() {
  const bay = $("switch-bay").dataset.bay;
  $("bay").value = bay;
  bayChosen();
  clearOutcome();
  $("quality").hidden = true;
  setState("ready");
  say(`Bay ${bay} chosen. Upload to check this photo there.`);
}

function showAnyway() {
  clearOutcome();
  showResult(lastScan);
  $("unreliable").hidden = false;
}

const KIND_NAMES = { fill: "Fill", move: "Move", replace: "Replace", remove: "Remove", photograph: "Photograph" };

function actionsOf(scan) {
  return scan.actions || (scan.report && scan.report.actions) || [];
}

function evidenceOf(scan, action) {
  // The API lists each action's crops; older answers only map facing ids to crop URLs.
  if (Array.isArray(action.evidence)) return action.evidence.map((e) => e.url);
  const byFacing = scan.evidence || {};
  return (action.facing_ids || []).map((id) => byFacing[id]).filter(Boolean);
}

function actionItem(scan, action, index) {
  const kind = action.kind || "fix";
  const item = element("li", `action ${kind}`);
  item.dataset.kind = kind;
  item.dataset.facingIds = (action.facing_ids || []).join(" ");
  item.append(element("span", "number", String(action.number || index + 1)));
  item.setAttribute("aria-label", `${KIND_NAMES[kind] || kind}: ${action.text || ""}`);
  // The sentence ends with its location ("… — shelf 2 from the top, 3rd from the left"): the
  // location gets its own line, where the eye looks for it, and is not said twice.
  let text = action.text || "";
  const location = action.location_text || "";
  if (location && text.endsWith(location)) text = text.slice(0, -location.length).replace(/[\s—–,:-]+$/, "");
  item.append(element("div", "what", text));
  if (location) item.append(element("div", "where", location));
  const crops = evidenceOf(scan, action);
  if (crops.length) {
    const strip = element("div", "crops");
    for (const url of crops.slice(0, 3)) {
      const link = element("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      const img = element("img");
      img.src = url;
      img.alt = `What the camera saw for action ${action.number || index + 1}`;
      img.loading = "lazy";
      link.append(img);
      strip.append(link);
    }
    if (crops.length > 3) strip.append(element("span", "more", `+${crops.length - 3} more`));
    item.append(strip);
  }
  return item;
}

// At most three scores, each with its one-line meaning (docs/kpis.md). Facings compliance is
// left out: it can read 100 % on a bay with a gap (it counts facings per product, not place).
const KPIS = [
  ["on_shelf_availability", "On-shelf availability", "Planned spots in the photo that hold their product."],
  ["out_of_stock_rate", "Out of stock", "Planned spots in the photo that are empty (lower is better)."],
  ["planogram_compliance", "Planogram compliance", "How exactly the shelf matches the plan; extra products count against it."],
];

function showKpis(scores) {
  const list = $("kpis");
  for (const [field, name, explanation] of KPIS) {
    if (typeof scores[field] !== "number") continue;
    const item = element("li");
    item.dataset.kpi = field;
    item.append(
      element("span", "value", `${Math.round(scores[field] * 100)} %`),
      element("span", "name", name),
      element("span", "explain", explanation),
    );
    list.append(item);
  }
}

function showResult(scan) {
  const actions = actionsOf(scan);
  const list = $("actions");
  list.replaceChildren(...actions.map((action, index) => actionItem(scan, action, index)));
  const toFix = actions.filter((a) => a.kind !== "photograph").length;
  const toPhotograph = actions.length - toFix;
  let summary = toFix ? `${toFix} thing${toFix === 1 ? "" : "s"} to fix, most urgent first.` : "Nothing to fix in the photo.";
  if (toPhotograph) summary += " Part of the bay is not in the photo: see the last step.";
  $("summary").textContent = summary;
  $("result-title").textContent = $("bay").value ? `Bay ${$("bay").value}` : "This bay";
  showKpis((scan.report && scan.report.scores) || {});
  if (scan.annotated_url) {
    $("annotated").src = scan.annotated_url;
    $("annotated-figure").hidden = false;
  } else {
    $("annotated-figure").hidden = true;
  }
  if (window.shelfscanReview) window.shelfscanReview.show(scan); // review.js: confirm or correct
  $("result").hidden = false;
  $("result").dataset.scanId = scan.id;
  setState("result");
  say("Done.");
}

const PHOTO_REJECTED = new Set([
  "empty_file", "file_too_large", "unsupported_format", "content_type_mismatch",
  "image_too_small", "image_too_large", "decompression_bomb", "truncated_image", "corrupt_image",
]);

function showFailure(scan) {
  clearOutcome();
  const unusable = PHOTO_REJECTED.has(scan.error_code);
  $("failed-reason").textContent = unusable
    ? `The photo could not be used (${scan.error}). Take it again and upload the new photo.`
    : `The analysis failed: ${scan.error || "unknown reason"}`;
  $("failed").dataset.code = scan.error_code || "";
  // A rejected photo has been deleted: retrying cannot help, a new photo can.
  $("retry").hidden = unusable;
  $("failed").hidden = false;
  $("failed").dataset.url = scan.url;
  setState("failed");
  say("");
  window.scrollTo(0, 0);
}

async function retry() {
  const url = $("failed").dataset.url;
  const response = await apiFetch(`${url}/retry`, { method: "POST" });
  if (response.status === 202) {
    $("failed").hidden = true;
    setState("uploading");
    say("Queued again…");
    poll(url);
  } else {
    const body = await response.json().catch(() => ({}));
    say(body.error ? body.error.message : `Retry failed (HTTP ${response.status})`);
  }
}

function reset() {
  clearOutcome();
  $("quality").hidden = true;
  $("preview").hidden = true;
  $("photo").value = "";
  $("photo-label").textContent = "Take a photo of the whole bay";
  say("");
  setState("setup");
  window.scrollTo(0, 0);
}

// --- Full-size photo ---------------------------------------------------------------------------

function openViewer() {
  $("viewer-image").src = $("annotated").src;
  $("photo-viewer").hidden = false;
  $("close-viewer").focus();
}

function closeViewer() {
  $("photo-viewer").hidden = true;
  $("open-photo").focus();
}

$("store").addEventListener("change", () => { loadBays(); showWhere(); });
$("bay").addEventListener("change", bayChosen);
$("photo").addEventListener("change", photoChosen);
$("scan-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if ($("upload").disabled) return;
  $("upload").disabled = true;
  clearOutcome();
  $("quality").hidden = true;
  setState("uploading");
  $("upload").disabled = true;
  upload();
});
$("retry").addEventListener("click", retry);
$("again").addEventListener("click", reset);
$("switch-bay").addEventListener("click", switchBay);
$("show-anyway").addEventListener("click", showAnyway);
$("open-photo").addEventListener("click", openViewer);
$("close-viewer").addEventListener("click", closeViewer);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("photo-viewer").hidden) closeViewer();
});
if (window.shelfscanAuth) window.shelfscanAuth.onSignedIn(loadStores); // after sign-in
else loadStores();
