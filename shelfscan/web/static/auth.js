// shelfscan staff page: who is asking. Before the page shows anything it asks
// /api/v1/auth/me; without credentials (401) it shows the two ways in:
//  * a person signs in with user name or e-mail and password (and a TOTP code when the API
//    asks for one): the server sets an HttpOnly session cookie and a readable shelfscan_csrf
//    cookie whose value goes back as X-CSRF-Token on every request;
//  * a store phone is enrolled with the store manager's one-time code: the long-lived device
//    token is kept in localStorage and sent as a Bearer header (the enrolment answer also sets
//    an HttpOnly cookie so that plain <img> requests of photos and crops are authorised), then
//    the associate says who is taking photos, so scans carry their name (taken_by).
// app.js asks this module for headers (apiHeaders) and tells it about 401 answers; it starts
// loading stores once someone is signed in (onSignedIn).
"use strict";

(function () {
  const TOKEN_KEY = "shelfscan.deviceToken";
  const NAMES_KEY = "shelfscan.associates"; // names used on this phone, most recent first
  const CSRF_COOKIE = "shelfscan_csrf";
  const CSRF_HEADER = "X-CSRF-Token";
  const ROLE_NAMES = {
    associate: "associate", store_manager: "store manager", regional_manager: "regional manager",
    hq_analyst: "head-office analyst", admin: "administrator",
  };
  const byId = (id) => document.getElementById(id);

  let me = null; // the /auth/me answer of whoever is signed in
  let csrfFromAnswer = null;
  let identity = null; // who the page's data was loaded for; a different person reloads it
  const signedInCallbacks = [];

  // --- Storage that may be unavailable (private mode, storage disabled) ----------------------

  function stored(key) {
    try { return localStorage.getItem(key); } catch (error) { return null; }
  }

  function store(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch (error) { /* the page still works for this visit */ }
  }

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [key, ...rest] = part.trim().split("=");
      if (key === name) return decodeURIComponent(rest.join("="));
    }
    return null;
  }

  // --- Credentials for every request (app.js's apiHeaders) -----------------------------------

  function headers() {
    const token = stored(TOKEN_KEY);
    if (token) return { Authorization: `Bearer ${token}` };
    const csrf = cookie(CSRF_COOKIE) || csrfFromAnswer;
    return csrf ? { [CSRF_HEADER]: csrf } : {};
  }

  async function call(method, url, body) {
    const init = {
      method,
      credentials: "same-origin",
      headers: Object.assign({ Accept: "application/json" }, headers()),
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    return { response, data };
  }

  function errorOf(result) {
    const error = result.data && result.data.error;
    return {
      code: (error && error.code) || "",
      message: (error && error.message) || `HTTP ${result.response.status}`,
    };
  }

  // --- Which panel is on screen ----------------------------------------------------------------
  // body[data-auth]: checking → signed-out | who (a phone without its associate) | signed-in.
  // auth.css hides the scan page unless signed-in.

  function setAuthState(state) {
    document.body.dataset.auth = state;
    byId("auth").hidden = state !== "signed-out";
    byId("who").hidden = state !== "who";
    byId("signed-in").hidden = state !== "signed-in";
  }

  function tell(text) {
    // One message box per panel; only the one on screen is seen.
    for (const id of ["auth-message", "who-message"]) {
      byId(id).textContent = text || "";
      byId(id).hidden = !text;
    }
  }

  function showSignIn(message) {
    me = null;
    csrfFromAnswer = null;
    tell(message);
    setAuthState("signed-out");
    byId("login-password").value = "";
  }

  function describe(principal) {
    const grant = (principal.grants || [])[0];
    const role = grant ? ROLE_NAMES[grant.role] || grant.role : "";
    const where = grant && grant.code ? ` ${grant.code}` : "";
    if (principal.kind === "device") {
      // The name first: on a narrow screen the end of the line is what gets cut.
      const phone = principal.store || grant.code;
      return principal.associate ? `${principal.associate} · ${phone}` : `Store phone ${phone}`;
    }
    if (principal.kind === "api_key") return `API key “${principal.name}”`;
    return `${principal.name} · ${role}${where}`;
  }

  function signedIn(principal) {
    if (principal.kind === "device" && !stored(TOKEN_KEY)) {
      // The cookie alone (storage was cleared) cannot upload: enrol again.
      return showSignIn("This phone needs to be enrolled again. Ask the store manager for a code.");
    }
    me = principal;
    csrfFromAnswer = principal.csrf_token || csrfFromAnswer;
    if (principal.kind === "device") {
      if (principal.store) store("shelfscan.store", principal.store);
      if (!principal.associate) return showWho();
    }
    byId("signed-in-text").textContent = describe(principal);
    byId("signed-in-text").title = principal.kind === "device" ? "Store phone" : principal.kind;
    byId("change-associate").hidden = principal.kind !== "device";
    resetSignOut();
    tell("");
    setAuthState("signed-in");
    const now = `${principal.kind}:${principal.name}`;
    if (now !== identity) {
      identity = now;
      for (const callback of signedInCallbacks) callback(principal);
    }
  }

  async function check() {
    setAuthState("checking");
    let result;
    try {
      result = await call("GET", "/api/v1/auth/me");
    } catch (error) {
      return showSignIn("Cannot reach shelfscan. Check the connection, then reload the page.");
    }
    if (result.response.ok) return signedIn(result.data);
    if (result.response.status === 401 && stored(TOKEN_KEY)) {
      store(TOKEN_KEY, null);
      return showSignIn("This phone is no longer enrolled. Ask the store manager for a new code.");
    }
    showSignIn(result.response.status === 401 ? "" : errorOf(result).message);
  }

  // --- Password sign-in ------------------------------------------------------------------------

  async function login(event) {
    event.preventDefault();
    const username = byId("login-username").value.trim();
    const password = byId("login-password").value;
    if (!username || !password) return tell("Enter your user name and password.");
    const body = { username, password };
    const totp = byId("login-totp").value.replace(/\s+/g, "");
    if (!byId("totp-row").hidden && totp) body.totp = totp;
    const button = byId("login-submit");
    button.disabled = true;
    tell("");
    try {
      const result = await call("POST", "/api/v1/auth/login", body);
      if (result.response.ok) {
        store(TOKEN_KEY, null); // a person's sign-in replaces a phone's enrolment
        byId("login-password").value = "";
        byId("login-totp").value = "";
        byId("totp-row").hidden = true;
        return signedIn(result.data);
      }
      const error = errorOf(result);
      if (error.code === "totp_required") {
        byId("totp-row").hidden = false;
        byId("login-totp").focus();
        return tell("Enter the 6-digit code from your authenticator app.");
      }
      if (result.response.status === 429) {
        const wait = Number(result.response.headers.get("Retry-After")) || 60;
        return tell(`Too many attempts. Try again in ${Math.ceil(wait / 60)} min.`);
      }
      tell(error.message.charAt(0).toUpperCase() + error.message.slice(1) + ".");
    } catch (error) {
      tell("Cannot reach shelfscan. Check the connection and try again.");
    } finally {
      button.disabled = false;
    }
  }

  // --- Store phone: enrolment and who is taking photos -----------------------------------------

  async function enrol(event) {
    event.preventDefault();
    const code = byId("enrol-code").value.trim();
    if (!code) return tell("Type the one-time code from the store manager.");
    const button = byId("enrol-submit");
    button.disabled = true;
    tell("");
    try {
      const result = await call("POST", "/api/v1/auth/device/enrol", { code, name: "store phone" });
      if (!result.response.ok) {
        const error = errorOf(result);
        return tell(error.message.charAt(0).toUpperCase() + error.message.slice(1) + ".");
      }
      store(TOKEN_KEY, result.data.token);
      byId("enrol-code").value = "";
      await check();
    } catch (error) {
      tell("Cannot reach shelfscan. Check the connection and try again.");
    } finally {
      button.disabled = false;
    }
  }

  function rememberedNames() {
    try { return JSON.parse(stored(NAMES_KEY) || "[]").filter((n) => typeof n === "string"); }
    catch (error) { return []; }
  }

  async function recentNames(storeCode) {
    // Who took the store's recent scans: on a shared phone the list is mostly the team.
    if (!storeCode) return [];
    try {
      const result = await call("GET", `/api/v1/stores/${encodeURIComponent(storeCode)}/scans?limit=50`);
      if (!result.response.ok) return [];
      return (result.data.scans || []).map((scan) => scan.taken_by).filter(Boolean);
    } catch (error) {
      return [];
    }
  }

  async function showWho() {
    // The names first, then the panel: no empty list that fills in under the thumb.
    const recent = await recentNames(me && me.store);
    const names = [...new Set([...rememberedNames(), ...recent])].slice(0, 12);
    byId("who-name").value = "";
    const list = byId("who-names");
    list.replaceChildren();
    for (const name of names) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary name";
      button.textContent = name;
      button.addEventListener("click", () => setAssociate(name));
      list.append(button);
    }
    byId("who-or").textContent = names.length ? "Not in the list? Type your name" : "Your name";
    tell("");
    setAuthState("who");
  }

  async function setAssociate(name) {
    name = name.trim();
    if (!name) return;
    const result = await call("PUT", "/api/v1/auth/device/associate", { name }).catch(() => null);
    if (!result || !result.response.ok) {
      if (result && result.response.status === 401) return check();
      return tell("Could not save the name. Try again.");
    }
    store(NAMES_KEY, JSON.stringify([name, ...rememberedNames().filter((n) => n !== name)].slice(0, 12)));
    signedIn(Object.assign({}, me, result.data));
  }

  // --- Signing out -----------------------------------------------------------------------------

  let signOutArmed = null;

  function resetSignOut() {
    clearTimeout(signOutArmed);
    signOutArmed = null;
    byId("sign-out").textContent = "Sign out";
  }

  async function signOut() {
    if (me && me.kind === "device" && !signOutArmed) {
      // Forgetting a phone needs a new code from the manager: ask for a second tap.
      byId("sign-out").textContent = "Tap again to forget this phone";
      signOutArmed = setTimeout(resetSignOut, 5000);
      return;
    }
    resetSignOut();
    await call("POST", "/api/v1/auth/logout").catch(() => null);
    store(TOKEN_KEY, null);
    // A fresh page: nothing of the previous person's stores, bays or results stays on screen.
    window.location.reload();
  }

  // --- What app.js uses ------------------------------------------------------------------------

  window.shelfscanAuth = {
    headers,
    principal: () => me,
    onSignedIn(callback) {
      signedInCallbacks.push(callback);
      if (me && document.body.dataset.auth === "signed-in") callback(me);
    },
    unauthorized() {
      // A session that ended (expired, revoked) or a phone that was revoked: sign in again;
      // what is on the page (the chosen bay, the photo) stays for when that is done.
      if (document.body.dataset.auth !== "signed-in") return;
      if (me && me.kind === "device") store(TOKEN_KEY, null);
      showSignIn(me && me.kind === "device"
        ? "This phone is no longer enrolled. Ask the store manager for a new code."
        : "Your sign-in has ended. Sign in again to carry on.");
    },
  };

  byId("login-form").addEventListener("submit", login);
  byId("enrol-form").addEventListener("submit", enrol);
  byId("who-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setAssociate(byId("who-name").value);
  });
  byId("sign-out").addEventListener("click", signOut);
  byId("change-associate").addEventListener("click", showWho);
  check();
})();
