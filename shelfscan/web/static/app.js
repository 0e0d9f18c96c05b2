// shelfscan staff page: choose store and bay, take a photo, upload with progress, then either
// the retake instruction (a photo that cannot be trusted: no fixes shown) or the list of
// actions with their evidence crops, three scores and the annotated photo.
"use strict";

const $ = (id) => document.getElementById(id);
const api = "/api/v1/stores";
let idempotencyKey = null; // one per photo and bay: a retried upload never makes a second scan
let lastScan = null;

// --- The photos of this scan ------------------------------------------------------------------
// The photos of one scan before they are uploaded: a long bay is photographed in parts, left to
// right, each part overlapping the last a little; the server merges them into one result.
// Add another, remove one, retake one; each photo gets a quick check of its own (light and
// size, measured here; the server's full check comes with the upload's answer).

window.shelfscanShots = (() => {
  const MAX = 8; // the API's limit per scan
  const MIN_SIDE = 400; // px: below this a shelf's labels are unreadable
  const MIN_BRIGHTNESS = 35; // the trust check's threshold (0-255)
  const $ = (id) => document.getElementById(id);
  let shots = []; // { file, url, check: { ok, text } | null }
  let slot = null; // index being retaken, else null (a new photo is added)
  let changed = () => {};

  // What the next photo should show: the clerk works along the bay from the left.
  function guide(count) {
    if (count === 0) return "Take a photo of the whole bay";
    if (count === 1) return "Add another photo: now the right half";
    if (count >= MAX) return `At most ${MAX} photos per scan`;
    return "Add another photo: now the next part to the right";
  }

  function partName(index, count) {
    if (count === 1) return "The bay";
    if (count === 2) return index === 0 ? "Left half" : "Right half";
    if (index === 0) return "Left end";
    if (index === count - 1) return "Right end";
    return `Part ${index + 1} from the left`;
  }

  async function check(file) {
    try {
      const bitmap = await createImageBitmap(file);
      const canvas = document.createElement("canvas");
      canvas.width = 48;
      canvas.height = 48;
      const context = canvas.getContext("2d");
      context.drawImage(bitmap, 0, 0, 48, 48);
      const pixels = context.getImageData(0, 0, 48, 48).data;
      let sum = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        sum += 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
      }
      const brightness = sum / (pixels.length / 4);
      const side = Math.min(bitmap.width, bitmap.height);
      bitmap.close();
      if (brightness < MIN_BRIGHTNESS) return { ok: false, text: "Too dark: retake it with more light" };
      if (side < MIN_SIDE) return { ok: false, text: "Too small to read: retake it closer" };
      return { ok: true, text: "Looks fine" };
    } catch (error) {
      return { ok: false, text: "Not a photo this phone can read: retake it" };
    }
  }

  function render() {
    const list = $("shots");
    list.replaceChildren();
    shots.forEach((shot, index) => {
      const item = document.createElement("li");
      item.className = "shot";
      item.dataset.index = String(index);
      const img = document.createElement("img");
      img.src = shot.url;
      img.alt = `Photo ${index + 1}`;
      const text = document.createElement("div");
      text.className = "shot-text";
      const name = document.createElement("strong");
      name.textContent = `${index + 1}. ${partName(index, shots.length)}`;
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.ok = shot.check ? String(shot.check.ok) : "";
      badge.textContent = shot.check ? shot.check.text : "Checking…";
      text.append(name, badge);
      const retake = document.createElement("button");
      retake.type = "button";
      retake.className = "secondary retake-shot";
      retake.textContent = "Retake";
      retake.addEventListener("click", () => { slot = index; $("photo").click(); });
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link remove-shot";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => removeAt(index));
      item.append(img, text, retake, remove);
      list.append(item);
    });
    list.hidden = shots.length === 0;
    $("shots-hint").hidden = shots.length === 0;
    $("photo-label").textContent = guide(shots.length);
  }

  function take(file) {
    const shot = { file, url: URL.createObjectURL(file), check: null };
    if (slot !== null && shots[slot]) {
      URL.revokeObjectURL(shots[slot].url);
      shots[slot] = shot;
    } else if (shots.length < MAX) {
      shots.push(shot);
    }
    slot = null;
    render();
    changed();
    check(file).then((result) => { shot.check = result; render(); });
  }

  function removeAt(index) {
    const [gone] = shots.splice(index, 1);
    if (gone) URL.revokeObjectURL(gone.url);
    render();
    changed();
  }

  function clear() {
    for (const shot of shots) URL.revokeObjectURL(shot.url);
    shots = [];
    slot = null;
    render();
  }

  return {
    take,
    clear,
    files: () => shots.map((shot) => shot.file),
    count: () => shots.length,
    latestUrl: () => (shots.length ? shots[shots.length - 1].url : null),
    onChange: (callback) => { changed = callback; },
    addAnother: () => { slot = null; $("photo").click(); },
  };
})();

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
  if (window.shelfscanShots.count()) idempotencyKey = newKey();
  showWhere();
  updateButton();
}

function updateButton() {
  $("upload").disabled = !($("store").value && $("bay").value && window.shelfscanShots.count());
}

// --- Photo and upload --------------------------------------------------------------------------

function photoChosen() {
  const file = $("photo").files[0];
  const shots = window.shelfscanShots;
  if (file) {
    // After a result, a new photo starts a new scan; before, it is one more part of the bay.
    if (["result", "retake", "failed"].includes(document.body.dataset.state)) shots.clear();
    shots.take(file);
    $("photo").value = ""; // the same file may be chosen again (a retake)
    clearOutcome();
    setState("ready");
    say($("bay").value ? "" : "Choose the bay, then upload.");
  }
  photosChanged();
}

function photosChanged() {
  // Other photos are another request: a new Idempotency-Key (a retry keeps the old one).
  const shots = window.shelfscanShots;
  idempotencyKey = shots.count() ? newKey() : null;
  const preview = $("preview");
  preview.src = shots.latestUrl() || "";
  preview.hidden = !shots.count();
  if (shots.count() > 1) say(`${shots.count()} photos of this bay: they are checked as one.`);
  updateButton();
}

function upload(attempt = 1) {
  const store = $("store").value;
  const bay = $("bay").value;
  const form = new FormData();
  for (const file of window.shelfscanShots.files()) form.append("photos", file);
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
  showPhotos(scan);
  if (window.shelfscanReview) window.shelfscanReview.show(scan); // review.js: confirm or correct
  $("result").hidden = false;
  $("result").dataset.scanId = scan.id;
  setState("result");
  say("Done.");
}

// Several photos: one tab per checked photo, which were left out and why, and the bay overview
// (the plan coloured by what was found, numbered by the photo that showed each spot).
function showPhotos(scan) {
  const photos = (scan.report && scan.report.photos) || [];
  const tabs = $("photo-tabs");
  tabs.replaceChildren();
  const several = photos.length > 1;
  tabs.hidden = !several || !scan.annotated_url;
  $("overview-figure").hidden = !several;
  const leftOut = photos.filter((p) => !p.used);
  $("left-out").hidden = !leftOut.length;
  $("left-out").textContent = leftOut
    .map((p) => `Photo ${p.index + 1} was left out: ${p.instruction || p.left_out_reason}`)
    .join(" ");
  if (!several) return;
  $("overview").src = `${scan.url}/overview.png`;
  for (const photo of photos) {
    const tab = element("button", "secondary photo-tab", `Photo ${photo.index + 1}`);
    tab.type = "button";
    tab.setAttribute("aria-pressed", String(photo.index === 0));
    tab.addEventListener("click", () => {
      $("annotated").src = `${scan.annotated_url}?photo=${photo.index}`;
      for (const other of tabs.children) other.setAttribute("aria-pressed", String(other === tab));
    });
    tabs.append(tab);
  }
  $("summary").textContent += ` Checked ${photos.length - leftOut.length} of ${photos.length} photos as one bay.`;
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
  window.shelfscanShots.clear();
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
