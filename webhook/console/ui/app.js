// brevosync console: a page over the operator API (/api/v1). Plain
// JavaScript, no framework; every value from the server is put in the page
// as text, never as HTML.
"use strict";

const POLL_MS = 2000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const $ = (id) => document.getElementById(id);

// el builds an element: el("td", {class: "num"}, "text", child, ...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}

// api calls the API. The URL is built on location.origin, which holds no
// credentials even when the page was opened as https://user:token@host/.
async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", cache: "no-store", headers: {} };
  if (method !== "GET") {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body ?? {});
  }
  const res = await fetch(new URL(path, location.origin), opts);
  let data = null;
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  if (res.status === 401) showProblem("Not logged in: reload the page and give the admin token as the password.");
  return { ok: res.ok, status: res.status, data: data || {} };
}

function showProblem(msg) {
  const p = $("problem");
  p.textContent = msg;
  p.hidden = !msg;
}

function age(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return seconds + "s";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m" + String(seconds % 60).padStart(2, "0") + "s";
  if (seconds < 172800) return Math.floor(seconds / 3600) + "h" + String(Math.floor(seconds / 60) % 60).padStart(2, "0") + "m";
  return Math.floor(seconds / 86400) + "d" + String(Math.floor(seconds / 3600) % 24).padStart(2, "0") + "h";
}

function since(ts) {
  return ts ? age((Date.now() - Date.parse(ts)) / 1000) + " ago" : "";
}

function pair(sync, proc) {
  return sync + "/" + (proc === null || proc === undefined ? "NULL" : proc);
}

function fmtCounts(m) {
  return Object.entries(m || {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => k + " " + v).join(", ");
}

// ---- status ----

let lastFailedKey = null;
let firstCounts = true;

async function pollStatus() {
  try {
    const r = await api("GET", "/api/v1/status");
    if (r.ok) {
      renderStatus(r.data);
      showProblem("");
    } else if (r.status !== 401) {
      showProblem("Status: " + (r.data.error || "HTTP " + r.status));
    }
  } catch (e) {
    showProblem("Cannot reach the service: " + e.message);
    $("updated").textContent = "offline";
  }
  setTimeout(pollStatus, POLL_MS);
}

function renderStatus(rep) {
  const states = $("states");
  const cards = [];
  let failed = 0;
  for (const s of rep.states || []) {
    if (s.name === "Failed") failed += s.count;
    const key = pair(s.sync_status, s.processing_status);
    cards.push(el("div", {
      class: "card" + (s.count === 0 ? " zero" : "") + (s.name === "Failed" ? " failed" : ""),
      "data-state": s.name, "data-pair": key,
    }, el("div", { class: "name" }, s.name), el("div", { class: "count" }, s.count), el("div", { class: "pair" }, key)));
  }
  states.replaceChildren(...cards);
  $("total").textContent = rep.total + " in all";
  $("total").dataset.total = rep.total;

  const parts = [];
  const o = rep.oldest_waiting;
  parts.push(o ? "oldest waiting: " + age(o.age_seconds) + " (" + o.state + ")" : "nothing waiting");
  const rt = rep.retries || {};
  let retries = "retries scheduled: " + (rt.scheduled || 0);
  if (rt.due !== null && rt.due !== undefined) retries += ", due now: " + rt.due;
  if (rt.next_at) retries += ", next in " + age((Date.parse(rt.next_at) - Date.parse(rep.generated_at)) / 1000);
  parts.push(retries);
  const summary = $("summary");
  summary.textContent = parts.join(" · ");
  summary.dataset.due = rt.due ?? "";

  renderLive(rep);
  renderErrors(rep.errors || []);
  $("updated").textContent = "updated " + new Date(rep.generated_at).toLocaleTimeString();

  const key = failed + "/" + rep.contacts_with_error;
  if (key !== lastFailedKey) {
    lastFailedKey = key;
    loadFailures();
  }
  $("retry-all").hidden = failed === 0;
  if (firstCounts) {
    firstCounts = false;
    performance.mark("counts-shown"); // the console's first paint, read by the bench
  }
}

function renderLive(rep) {
  const live = rep.live;
  const set = (id, text, cls) => { const e = $(id); e.textContent = text; e.className = "pill " + (cls || ""); e.hidden = false; };
  if (!live) {
    set("listener", "listener: unknown (not a serve process)", "warn");
    set("sending", "sending: unknown", "warn");
  } else {
    set("listener", live.listener_connected ? "listener: connected" : "listener: NOT connected" +
      (live.listener_note ? " (" + live.listener_note + ")" : ""), live.listener_connected ? "ok" : "bad");
    if (live.paused) {
      let t = "sending: PAUSED" + (live.paused_reason ? ": " + live.paused_reason : "");
      if (live.paused_until) t += " (until " + new Date(live.paused_until).toLocaleTimeString() + ")";
      set("sending", t, "bad");
    } else {
      set("sending", "sending: running", "ok");
    }
    const imports = live.imports || [];
    const ie = $("imports");
    ie.hidden = imports.length === 0;
    if (imports.length) {
      const n = imports.reduce((a, i) => a + (i.contacts || 0), 0);
      set("imports", "imports in flight: " + imports.length + " (" + n + " contacts)", "warn");
    }
  }
  const reps = rep.replicas;
  set("replicas", reps === null || reps === undefined ? "replicas: unknown" : "replicas: " + reps.length + " live",
    reps && reps.length ? "ok" : "warn");
  const sch = $("schema");
  sch.hidden = !!(rep.schema && rep.schema.migrated);
  if (!sch.hidden) sch.textContent = "schema not migrated: " + (rep.schema.hint || "");
}

function renderErrors(causes) {
  const table = $("errors");
  $("errors-none").hidden = causes.length > 0;
  table.hidden = causes.length === 0;
  table.tBodies[0].replaceChildren(...causes.map((c) => {
    const failed = (c.states || {})["Failed"] || 0;
    const btn = failed > 0
      ? el("button", { type: "button", class: "small", "data-cause": c.cause, onclick: () => retryCause(c.cause) }, "retry these (" + failed + ")")
      : "";
    const show = el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); failuresCause = c.cause; loadFailures(); } }, c.cause);
    return el("tr", {}, el("td", { class: "num" }, c.count), el("td", {}, fmtCounts(c.states)),
      el("td", { class: "err" }, show, c.example && c.example !== c.cause ? el("div", { class: "muted" }, "e.g. " + c.example) : ""),
      el("td", {}, btn));
  }));
}

// ---- failures and retries ----

let failuresCause = "";

async function loadFailures() {
  const q = "/api/v1/failures?limit=100" + (failuresCause ? "&cause=" + encodeURIComponent(failuresCause) : "");
  const r = await api("GET", q);
  if (!r.ok) return;
  const rows = r.data.failures || [];
  $("failures-none").hidden = rows.length > 0;
  $("failures").hidden = rows.length === 0;
  $("failures-more").hidden = !r.data.more;
  const filter = $("failures-filter");
  filter.replaceChildren();
  if (failuresCause) {
    filter.append("cause: " + failuresCause + " ",
      el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); failuresCause = ""; loadFailures(); } }, "show all"));
  }
  $("failures").tBodies[0].replaceChildren(...rows.map((f) => el("tr", { "data-id": f.id },
    el("td", {}, el("a", { href: "#/contacts/" + f.id }, f.email)),
    el("td", {}, f.state),
    el("td", { class: "err" }, f.error),
    el("td", {}, since(f.failed_at)),
    el("td", {}, el("button", { type: "button", class: "small retry", onclick: (ev) => retryIDs([f.id], ev.target) }, "retry")))));
}

async function retryIDs(ids, button) {
  if (button) button.disabled = true;
  const r = await api("POST", "/api/v1/retry", { ids });
  $("retry-result").textContent = r.ok ? "retried " + r.data.retried + " contact(s): they are fresh requests now"
    : "retry failed: " + (r.data.error || "HTTP " + r.status);
  lastFailedKey = null; // reload the failures with the next status
}

// retryCause retries the Failed contacts of one cause, a page at a time:
// each page is one all-or-nothing request.
async function retryCause(cause) {
  let total = 0;
  const out = $("cause-result");
  for (;;) {
    const page = await api("GET", "/api/v1/failures?limit=10000&cause=" + encodeURIComponent(cause));
    if (!page.ok) { out.textContent = "could not list the failures: " + (page.data.error || page.status); return; }
    const ids = (page.data.failures || []).map((f) => f.id);
    if (ids.length === 0) break;
    const r = await api("POST", "/api/v1/retry", { ids });
    if (!r.ok) { out.textContent = "retried " + total + ", then: " + (r.data.error || "HTTP " + r.status); return; }
    total += r.data.retried;
    out.textContent = "retried " + total + " contact(s) of this cause…";
    if (!page.data.more || r.data.retried === 0) break;
  }
  out.textContent = "retried " + total + " contact(s) with the cause “" + cause + "”";
  lastFailedKey = null;
}

// ---- select and unselect ----

// parseEntries sorts the lines into ids and emails, remembering each one's
// line for the errors (the API names items as "emails[3]").
function parseEntries(text) {
  const ids = [], emails = [], where = { ids: [], emails: [] };
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const list = UUID.test(line) ? "ids" : "emails";
    (list === "ids" ? ids : emails).push(line);
    where[list].push(i + 1);
  });
  return { body: { ids, emails }, where };
}

function lineOf(where, field) {
  const m = /^(ids|emails)\[(\d+)\]$/.exec(field || "");
  return m ? "line " + where[m[1]][Number(m[2])] : field;
}

async function selectOrUnselect(verb) {
  const out = $("select-result");
  const { body, where } = parseEntries($("entries").value);
  if (body.ids.length + body.emails.length === 0) {
    out.className = "bad";
    out.textContent = "nothing to " + verb + ": paste emails or contact ids, one per line";
    return;
  }
  if (!body.ids.length) delete body.ids;
  if (!body.emails.length) delete body.emails;
  const r = await api("POST", "/api/v1/" + verb, body);
  if (!r.ok) {
    out.className = "bad";
    const bad = r.data.invalid || [];
    out.textContent = bad.length
      ? "nothing applied: " + r.data.invalid_count + " invalid line(s)\n" +
        bad.map((b) => lineOf(where, b.field) + ": “" + b.value + "” " + b.reason).join("\n")
      : "nothing applied: " + (r.data.error || "HTTP " + r.status);
    return;
  }
  out.className = "";
  const d = r.data;
  const lines = verb === "select"
    ? ["selected: " + d.selected, "already waiting: " + d.already_waiting]
    : ["unselected: " + d.unselected];
  lines.push("unknown: " + d.unknown.length + (d.unknown.length ? " (" + d.unknown.slice(0, 20).join(", ") +
    (d.unknown.length > 20 ? ", …" : "") + ")" : ""));
  out.textContent = lines.join("\n");
  pollOnce();
}

async function pollOnce() {
  const r = await api("GET", "/api/v1/status");
  if (r.ok) renderStatus(r.data);
}

// ---- one contact ----

let contactTimer = null;

async function showContact(id) {
  $("home").hidden = true;
  $("contact").hidden = false;
  clearTimeout(contactTimer);
  const r = await api("GET", "/api/v1/contacts/" + encodeURIComponent(id));
  if (location.hash !== "#/contacts/" + id) return; // navigated away meanwhile
  if (!r.ok) {
    $("contact-title").textContent = "contact " + id;
    $("contact-state").textContent = r.data.error || "HTTP " + r.status;
    $("contact-columns").tBodies[0].replaceChildren();
    return;
  }
  const c = r.data;
  $("contact-title").textContent = c.email;
  $("contact-state").textContent = c.state;
  $("contact-state").dataset.state = c.state;
  $("contact-columns").tBodies[0].replaceChildren(el("tr", {}, el("th", {}, "id"), el("td", {}, c.id)),
    ...Object.keys(c.columns).sort().map((k) => el("tr", {}, el("th", {}, k),
      el("td", { "data-column": k }, c.columns[k] === null ? "NULL" : String(c.columns[k])))));
  const events = c.events || [];
  $("events-none").hidden = events.length > 0;
  $("events-none").textContent = c.events_error || "none";
  $("events").hidden = events.length === 0;
  $("events").tBodies[0].replaceChildren(...events.map((e) => el("tr", {},
    el("td", {}, new Date(e.received_at).toLocaleString()), el("td", {}, e.event), el("td", {}, e.effect),
    el("td", { class: "payload" }, JSON.stringify(e.payload)))));
  contactTimer = setTimeout(() => showContact(id), POLL_MS);
}

function route() {
  const m = /^#\/contacts\/(.+)$/.exec(location.hash);
  if (m) {
    showContact(decodeURIComponent(m[1]));
    return;
  }
  clearTimeout(contactTimer);
  $("contact").hidden = true;
  $("home").hidden = false;
}

// ---- start ----

document.addEventListener("DOMContentLoaded", () => {
  $("select").addEventListener("click", () => selectOrUnselect("select"));
  $("unselect").addEventListener("click", () => selectOrUnselect("unselect"));
  $("retry-all").addEventListener("click", async () => {
    const r = await api("POST", "/api/v1/retry", { all: true });
    $("retry-result").textContent = r.ok ? "retried " + r.data.retried + " contact(s)" : "retry failed: " + (r.data.error || r.status);
    lastFailedKey = null;
  });
  $("contact-open").addEventListener("click", () => {
    const id = $("contact-id").value.trim();
    if (id) location.hash = "#/contacts/" + id;
  });
  $("back").addEventListener("click", (ev) => { ev.preventDefault(); location.hash = ""; });
  $("credentials").addEventListener("click", async () => {
    const out = $("credentials-result");
    out.textContent = "testing…";
    const r = await api("POST", "/api/v1/credentials/test", {});
    out.className = r.ok && r.data.ok ? "" : "bad";
    out.textContent = r.ok ? (r.data.ok ? "ok" + (r.data.account ? ": " + r.data.account : "") : "refused: " + r.data.error)
      : "test failed: " + (r.data.error || r.status);
  });
  $("config").addEventListener("toggle", async () => {
    if (!$("config").open) return;
    const r = await api("GET", "/api/v1/config");
    $("config-body").textContent = JSON.stringify(r.data, null, 2);
  });
  window.addEventListener("hashchange", route);
  route();
  pollStatus();
});
