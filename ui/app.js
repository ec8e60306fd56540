// The status page: views built from the public admin API only (see
// cronduct.toml(5) ADMIN API), refreshed every few seconds. A refresh
// when nothing changed is one conditional GET of the job list answered
// 304; health, status and the running runs are asked for only while
// something runs, or every 30 s. Text from the daemon (job ids, output)
// is set as text, never parsed as HTML, except in the jobs table, which
// is one HTML string (a thousand rows built node by node took longer than
// the whole first load may): there every value goes through esc().

import * as api from "./api.js";
import { outcomeChart } from "./chart.js";

const REFRESH_MS = 4000;
const SLOW_REFRESH_MS = 30000;
const RUNS_SHOWN = 50;
// Rows of the jobs table drawn before the first paint: more than a tall
// screen shows (a row is about 60 px high, a card at 360 px wide 200 px).
const FIRST_ROWS = 50;
// How much of an attempt's whole output is shown in the page; the rest is
// in the download, which holds all of it.
const OUTPUT_SHOWN = 256 * 1024;

const state = {
  jobs: null, // JobView list from /api/v1/jobs
  health: null,
  status: null,
  running: [],
  slowAt: 0, // when health, status and running were last asked for
  filter: "",
  sort: { key: "id", dir: 1 },
  filled: null, // what the jobs table shows: { body, jobs, filter, sort, at }
  days: 7, // the job page's chart period
  openRuns: new Set(), // run ids whose details are open on the job page
  job: null, // the job page's data: { id, detail, runs, stats }
  // "run_id.attempt" -> the whole output asked for on the job page:
  // { job, parts, length, done, follow, error, abort }.
  outputs: new Map(),
  timer: 0,
  busy: false,
};

const $ = (id) => document.getElementById(id);

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
/** `v` as HTML text or a quoted attribute's value. */
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ESCAPES[c]);

// One collator for every sort: String.prototype.localeCompare sets one up
// per call, which is most of the time of sorting a thousand jobs. Made on
// first use (see start()): setting up the first one loads the browser's
// collation data, which should not delay asking for the job list.
let collator = null;
const compare = (a, b) => (collator ||= new Intl.Collator()).compare(a, b);

/** An element with attributes (`on…` ones as listeners) and children
 * (strings become text nodes; null and false are skipped). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// ---- time ---------------------------------------------------------------

const formats = new Map();
function formatIn(zone) {
  if (!formats.has(zone)) {
    let f;
    try {
      f = new Intl.DateTimeFormat("sv-SE", {
        timeZone: zone || "UTC",
        year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
        timeZoneName: "short",
      });
    } catch {
      // A zone the browser does not know: UTC, which the text says.
      f = formatIn("UTC");
    }
    formats.set(zone, f);
  }
  return formats.get(zone);
}

/** A <time> for an RFC 3339 instant, written in `zone` (the job's), with
 * how far away it is. */
function when(iso, zone) {
  if (!iso) return h("span", { class: "muted" }, "none");
  const t = new Date(iso);
  return h("time", { datetime: iso, title: iso }, formatIn(zone).format(t), h("span", { class: "sub" }, relative(t)));
}

/** when() as HTML, for the jobs table. */
function whenHtml(iso, zone) {
  if (!iso) return '<span class="muted">none</span>';
  const t = new Date(iso);
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${esc(formatIn(zone).format(t))}<span class="sub">${esc(relative(t))}</span></time>`;
}

function relative(t) {
  const s = Math.round((t.getTime() - Date.now()) / 1000);
  const a = Math.abs(s);
  const text = a < 60 ? `${a} s` : a < 3600 ? `${Math.round(a / 60)} min` : a < 172800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} days`;
  return s >= 0 ? `in ${text}` : `${text} ago`;
}

function duration(ms) {
  if (ms === null || ms === undefined) return "none";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// ---- notices and dialogs ------------------------------------------------

function notice(text) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = !text;
}

function askKey(message) {
  const d = $("key-dialog");
  const err = $("key-error");
  err.textContent = message || "";
  err.hidden = !message;
  $("key-input").value = "";
  $("forget-key").hidden = true;
  if (!d.open) d.showModal();
  $("key-input").focus();
}

/** Asks to confirm an action; the pause fields when `pause`. Resolves to
 * the form's values, or null when the user backed out (Esc included). */
function confirmAction({ title, text, ok, danger = false, pause = false }) {
  const d = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("pause-fields").hidden = !pause;
  $("pause-reason").value = "";
  $("pause-until").value = "";
  const button = $("confirm-ok");
  button.textContent = ok;
  button.className = danger ? "danger" : "primary";
  d.returnValue = "";
  d.showModal();
  (pause ? $("pause-reason") : button).focus();
  return new Promise((resolve) => {
    d.addEventListener("close", () => {
      if (d.returnValue !== "ok") return resolve(null);
      resolve({ reason: $("pause-reason").value.trim(), until: $("pause-until").value.trim() });
    }, { once: true });
  });
}

/** Shows a refused request the way the API put it; a 401 asks for the
 * key again. */
function refused(e, doing) {
  if (e instanceof api.ApiError && e.status === 401) {
    stop();
    api.forgetKey();
    api.forgetAnswers();
    askKey(`The daemon refused the key (401): ${e.message}`);
    return;
  }
  const code = e instanceof api.ApiError && e.status ? ` (${e.status})` : "";
  notice(`${doing} was refused${code}: ${e.message}`);
}

// ---- actions ------------------------------------------------------------

async function act(job, kind) {
  const id = job.id;
  const asks = {
    run: { title: `Run ${id} now?`, text: `Starts a run of ${id} outside its schedule.`, ok: "Run now" },
    pause: { title: `Pause ${id}?`, text: "No scheduled run starts while it is paused; runs in progress go on.", ok: "Pause", pause: true },
    resume: { title: `Resume ${id}?`, text: "Scheduled runs start again from the next one.", ok: "Resume" },
    cancel: { title: `Cancel ${id}'s runs?`, text: "Every running attempt is terminated (SIGTERM, then SIGKILL after its grace).", ok: "Cancel runs", danger: true },
  };
  const answer = await confirmAction(asks[kind]);
  if (!answer) return;
  const names = { run: "Run now", pause: "Pause", resume: "Resume", cancel: "Cancel" };
  try {
    let body;
    if (kind === "pause") {
      body = {};
      if (answer.reason) body.reason = answer.reason;
      if (answer.until) body.until = answer.until;
    }
    const reply = await api.post(api.jobPath(id, `/${kind}`), body);
    notice("");
    if (kind === "run" && reply && reply.run_id) state.openRuns.add(reply.run_id);
  } catch (e) {
    refused(e, `${names[kind]} of ${id}`);
  }
  if (state.job) state.job.stale = true;
  state.slowAt = 0;
  tick();
}

function actionButtons(job) {
  return h("div", { class: "actions" },
    h("button", { type: "button", "data-action": "run", onclick: () => act(job, "run") }, "Run now"),
    job.paused
      ? h("button", { type: "button", "data-action": "resume", onclick: () => act(job, "resume") }, "Resume")
      : h("button", { type: "button", "data-action": "pause", onclick: () => act(job, "pause") }, "Pause…"),
    h("button", { type: "button", class: "danger", "data-action": "cancel", disabled: !job.running, onclick: () => act(job, "cancel") }, "Cancel runs"),
  );
}

// ---- overview and jobs table ---------------------------------------------

function card(label, value, extra) {
  return h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), extra);
}

function overview() {
  const jobs = state.jobs || [];
  const health = state.health;
  const status = state.status;
  // RFC 3339 instants in UTC sort as strings.
  const next = jobs.reduce((n, j) => (j.next_run && (!n || j.next_run < n.next_run) ? j : n), null);
  const cards = [
    card("Health", h("span", { class: `health-${health ? (health.status === "healthy" ? "ok" : "failing") : "never_run"}`, id: "health-status" }, health ? health.status : "…")),
    card("Jobs", String(jobs.length)),
    card("Paused", String(jobs.filter((j) => j.paused).length)),
    card("Running", String(jobs.filter((j) => j.running).length)),
    card("Next run", next ? next.id : "none", next ? when(next.next_run, next.timezone) : null),
  ];
  if (status) {
    cards.push(card("Failures in 24 h", String(status.failures_24h)));
    cards.push(card("Daemon", `v${status.version}`, h("span", { class: "sub" }, `up ${duration(status.uptime_seconds * 1000)}, pid ${status.pid}`)));
  }
  const warnings = health && health.warnings.length
    ? h("ul", { class: "warnings", "aria-label": "Warnings" }, health.warnings.map((w) => h("li", {}, w)))
    : null;
  return h("section", { "aria-label": "Overview" }, h("div", { class: "cards" }, cards), warnings);
}

const COLUMNS = [
  { key: "id", label: "Job", value: (j) => j.id },
  { key: "schedule", label: "Schedule", value: (j) => j.schedule },
  { key: "timezone", label: "Zone", value: (j) => j.timezone },
  { key: "next_run", label: "Next run", value: (j) => j.next_run || "\uffff" },
  { key: "last", label: "Last run", value: (j) => (j.last_run ? j.last_run.status : "") },
  { key: "health", label: "Health", value: (j) => j.health },
  { key: "consecutive_failures", label: "Failures in a row", value: (j) => j.consecutive_failures },
];

function matches(job, filter) {
  if (!filter) return true;
  const hay = [job.id, job.description, job.schedule, job.schedule_text, job.timezone, job.health,
    job.last_run ? job.last_run.status : "", job.paused ? "paused" : ""].join(" ").toLowerCase();
  return filter.toLowerCase().split(/\s+/).every((w) => hay.includes(w));
}

/** One row of the jobs table as HTML; every value from the daemon goes
 * through esc(). */
function jobRowHtml(j) {
  const last = j.last_run;
  const sub = (text) => `<span class="sub">${esc(text)}</span>`;
  const pause = j.paused
    ? `<span class="paused">${esc(j.pause && j.pause.reason ? j.pause.reason : "paused")}</span>` +
      (j.pause && j.pause.until ? `<span class="sub">until ${whenHtml(j.pause.until, j.timezone)}</span>` : "")
    : "";
  return `<tr role="row" data-job="${esc(j.id)}">` +
    `<td role="cell" class="id" data-label="Job"><a href="#/job/${esc(encodeURIComponent(j.id))}">${esc(j.id)}</a>${j.description ? sub(j.description) : ""}</td>` +
    `<td role="cell" data-label="Schedule"><code>${esc(j.schedule)}</code><span class="sub schedule-text">${esc(j.schedule_text)}</span></td>` +
    `<td role="cell" data-label="Zone">${esc(j.timezone)}</td>` +
    `<td role="cell" data-label="Next run" class="next-run">${j.paused ? '<span class="paused">paused</span>' : whenHtml(j.next_run, j.timezone)}</td>` +
    `<td role="cell" data-label="Last run">${last
      ? `<span class="status ${esc(last.status)}">${esc(last.status)}</span>${sub(`${duration(last.duration_ms)}, ${relative(new Date(last.finished_at))}`)}`
      : '<span class="muted">never</span>'}</td>` +
    `<td role="cell" data-label="Health"><span class="health-${esc(j.health)}">${esc(j.health.replace("_", " "))}</span>` +
      `${j.running ? sub("running") : ""}${j.enabled ? "" : sub("disabled")}</td>` +
    `<td role="cell" data-label="Failures in a row">${esc(j.consecutive_failures)}</td>` +
    `<td role="cell" data-label="Paused" class="pause">${pause}</td></tr>`;
}

function sortedJobs() {
  const col = COLUMNS.find((c) => c.key === state.sort.key) || COLUMNS[0];
  const dir = state.sort.dir;
  return (state.jobs || []).filter((j) => matches(j, state.filter)).sort((a, b) => {
    const x = col.value(a);
    const y = col.value(b);
    const c = typeof x === "number" ? x - y : compare(String(x), String(y));
    return c * dir || compare(a.id, b.id);
  });
}

/** After the next frame is painted (a task queued from the frame's
 * callback runs after its paint). */
const afterPaint = (f) => requestAnimationFrame(() => setTimeout(f));

/** Fills the jobs table, unless it already shows this job list with
 * this filter and sort and its relative times ("in 5 min") are recent:
 * an answer of /health or /api/v1/status alone changes only the overview. */
function fillJobsTable() {
  const body = $("jobs-body");
  if (!body) return;
  const f = state.filled;
  if (f && f.body === body && f.jobs === state.jobs && f.filter === state.filter && f.sort === state.sort &&
    Date.now() - f.at < SLOW_REFRESH_MS) return;
  const fill = { body, jobs: state.jobs, filter: state.filter, sort: state.sort, at: Date.now() };
  state.filled = fill;
  const rows = sortedJobs();
  // An empty table (the first load, or back from another view) gets the
  // rows a screen shows first and the rest once those are painted, so a
  // thousand jobs show as fast as fifty. A table that already has rows is
  // refilled at once: two steps would cut it short for a frame and lose
  // the reader's scroll position.
  const first = body.firstChild ? rows.length : FIRST_ROWS;
  body.innerHTML = rows.slice(0, first).map(jobRowHtml).join("");
  // For profiling (benches/ui.rs, or the browser's performance panel): when
  // the table first held its first screen of rows, when that was painted,
  // and when every row was in.
  const firstFill = rows.length > 0 && mark("cronduct:jobs-rendered");
  if (rows.length > first || firstFill) {
    afterPaint(() => {
      if (firstFill) mark("cronduct:jobs-painted");
      // Refilled meanwhile (a refresh, the filter): that fill has them.
      if (state.filled !== fill) return;
      if (rows.length > first) body.insertAdjacentHTML("beforeend", rows.slice(first).map(jobRowHtml).join(""));
      mark("cronduct:jobs-all");
    });
  }
  $("jobs-count").textContent = `${rows.length} of ${(state.jobs || []).length} jobs`;
  for (const th of document.querySelectorAll("table.jobs th[data-key]")) {
    const on = th.dataset.key === state.sort.key;
    th.setAttribute("aria-sort", on ? (state.sort.dir > 0 ? "ascending" : "descending") : "none");
  }
}

/** Sets performance mark `name` unless it is set; whether it set it. */
function mark(name) {
  if (performance.getEntriesByName(name).length) return false;
  performance.mark(name);
  return true;
}

function homeView() {
  const head = h("tr", { role: "row" },
    COLUMNS.map((c) => h("th", { scope: "col", role: "columnheader", "data-key": c.key },
      h("button", { type: "button", onclick: () => {
        state.sort = { key: c.key, dir: state.sort.key === c.key ? -state.sort.dir : 1 };
        fillJobsTable();
      } }, c.label))),
    h("th", { scope: "col", role: "columnheader" }, "Paused"));
  const filter = h("input", {
    type: "search", id: "filter", placeholder: "Filter: id, schedule, health, paused…",
    "aria-label": "Filter jobs", value: state.filter,
    oninput: (e) => { state.filter = e.target.value; fillJobsTable(); },
  });
  return [
    h("h1", {}, "Overview"),
    h("div", { id: "overview" }, overview()),
    h("h2", {}, "Jobs"),
    h("div", { class: "toolbar" }, filter, h("span", { id: "jobs-count", class: "muted", "aria-live": "polite" })),
    h("div", { class: "table-wrap" }, h("table", { class: "jobs", id: "jobs", role: "table" },
      h("thead", { role: "rowgroup" }, head), h("tbody", { id: "jobs-body", role: "rowgroup" }))),
  ];
}

// ---- running runs ---------------------------------------------------------

function runningTable(runs, withJob = true) {
  if (!runs.length) return h("p", { class: "muted", id: "running-none" }, "Nothing is running.");
  const byId = new Map((state.jobs || []).map((j) => [j.id, j]));
  return h("div", { class: "table-wrap" }, h("table", { id: "running" },
    h("thead", {}, h("tr", {}, withJob ? h("th", {}, "Job") : null, h("th", {}, "Run"), h("th", {}, "Started"), h("th", {}, "Elapsed / timeout"), h("th", {}, ""))),
    h("tbody", {}, runs.map((r) => {
      const job = byId.get(r.job);
      const zone = job ? job.timezone : "UTC";
      let limit = "no timeout";
      let bar = null;
      if (r.timeout_at) {
        const total = new Date(r.timeout_at) - new Date(r.started_at);
        limit = duration(total);
        bar = h("progress", { max: total, value: Math.min(r.elapsed_ms, total) });
      }
      return h("tr", { "data-run-id": r.run_id },
        withJob ? h("td", {}, h("a", { href: `#/job/${encodeURIComponent(r.job)}` }, r.job)) : null,
        h("td", { class: "mono" }, r.run_id, h("span", { class: "sub" }, `attempt ${r.attempt}, pid ${r.pid}`)),
        h("td", {}, when(r.started_at, zone)),
        h("td", {}, `${duration(r.elapsed_ms)} of ${limit} `, bar),
        h("td", {}, job ? h("button", { type: "button", class: "danger", onclick: () => act(job, "cancel") }, "Cancel") : null));
    }))));
}

function runningView() {
  return [h("h1", {}, "Running"), h("div", { id: "running-list" }, runningTable(state.running))];
}

// ---- job page -------------------------------------------------------------

// Fields of the job detail shown elsewhere on the page; the rest are the
// job's resolved settings.
const SHOWN = new Set(["id", "description", "schedule", "schedule_text", "timezone", "enabled", "paused",
  "pause", "running", "next_run", "next_runs", "consecutive_failures", "health", "last_run", "stats"]);

function settingValue(v) {
  if (v === null) return h("span", { class: "muted" }, "none");
  if (typeof v === "object") {
    const text = JSON.stringify(v);
    return text === "{}" || text === "[]" ? h("span", { class: "muted" }, "none") : h("code", {}, text);
  }
  return h("code", {}, String(v));
}

function statsList(s) {
  const rows = [["Runs", s.total], ["Succeeded", s.success], ["Failed", s.failed], ["Timed out", s.timeout],
    ["Cancelled", s.cancelled], ["Errors", s.error], ["Lost", s.lost],
    ["Average", duration(s.avg_duration_ms)], ["Shortest", duration(s.min_duration_ms)],
    ["Longest", duration(s.max_duration_ms)], ["95th percentile", duration(s.p95_duration_ms)]];
  return h("dl", { class: "settings", id: "job-stats" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
}

// ---- whole output -------------------------------------------------------

const outputKey = (run, attempt) => `${run}.${attempt}`;

function outputPath(run, attempt, follow) {
  return `/api/v1/runs/${encodeURIComponent(run)}/output?attempt=${attempt}${follow ? "&follow=true" : ""}`;
}

/** Reads an attempt's whole output (`follow`: as a running attempt writes
 * it) into state.outputs, repainting its block as pieces arrive. */
async function loadOutput(job, run, attempt, follow) {
  const key = outputKey(run, attempt);
  const old = state.outputs.get(key);
  if (old && !old.done && !old.error) return; // already coming in
  const controller = new AbortController();
  const o = { job, run, attempt, follow, parts: [], length: 0, bytes: 0, done: false, error: null, abort: () => controller.abort() };
  state.outputs.set(key, o);
  paintOutput(key);
  try {
    await api.streamText(outputPath(run, attempt, follow), (text, bytes) => {
      o.parts.push(text);
      o.length += text.length;
      o.bytes += bytes;
      paintOutput(key);
    }, controller.signal);
    o.done = true;
  } catch (e) {
    if (e.name === "AbortError") return;
    if (e instanceof api.ApiError && e.status === 401) {
      state.outputs.delete(key);
      refused(e, "Reading the output");
      return;
    }
    const code = e instanceof api.ApiError && e.status ? `${e.status}: ` : "";
    o.error = `${code}${e.message}`;
  }
  paintOutput(key);
}

function stopOutputs() {
  for (const o of state.outputs.values()) o.abort();
  state.outputs.clear();
}

// Pieces of a followed output can come many times a frame: one repaint
// per frame for all of them.
const toPaint = new Set();
function paintOutput(key) {
  if (!toPaint.size) {
    requestAnimationFrame(() => {
      for (const k of toPaint) {
        const o = state.outputs.get(k);
        for (const el of document.querySelectorAll(`[data-output-for="${CSS.escape(k)}"]`)) {
          if (o) el.replaceWith(outputBlock(o.job, o.run, o.attempt, el.dataset.follow === "true"));
        }
      }
      toPaint.clear();
    });
  }
  toPaint.add(key);
}

/** Saves the whole output as a file. The API wants the key in a header,
 * which a plain link cannot send, so the file is made from the text the
 * page already read. */
function download(key) {
  const o = state.outputs.get(key);
  if (!o) return;
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob(o.parts, { type: "text/plain;charset=utf-8" }));
  a.download = `${o.job}-${key}.log`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

function size(bytes) {
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** The button that reads an attempt's whole output (`follow`: live, for
 * a running attempt), and that output as far as it was read, or why
 * there is none. */
function outputBlock(job, run, attempt, follow) {
  const key = outputKey(run, attempt);
  const o = state.outputs.get(key);
  const coming = Boolean(o && !o.done && !o.error);
  const label = follow ? "Live output" : "Whole output";
  const box = h("div", { class: "whole-output", "data-output-for": key, "data-follow": String(follow) },
    h("button", { type: "button", "data-output": key, disabled: coming, onclick: () => loadOutput(job, run, attempt, follow) },
      o && !coming ? `${label} again` : label));
  if (!o) return box;
  if (o.error) {
    box.append(h("p", { class: "error output-reason" }, `No whole output: ${o.error}`));
    return box;
  }
  const text = o.parts.join("");
  // Joined once: the next paint starts from one piece.
  o.parts = text ? [text] : [];
  const progress = o.done ? size(o.bytes) : o.follow ? `${size(o.bytes)} so far, following the running attempt…` : `${size(o.bytes)}, reading…`;
  box.append(
    h("div", { class: "muted" }, "stdout and [stderr] lines as they came: ", h("span", { class: "output-state" }, progress), " ",
      o.bytes ? h("button", { type: "button", class: "quiet", "data-download": key, onclick: () => download(key) }, "Download") : null),
    h("pre", { class: "output" }, text.length > OUTPUT_SHOWN ? text.slice(0, OUTPUT_SHOWN) : text),
    text.length > OUTPUT_SHOWN ? h("div", { class: "muted" }, `showing the first ${OUTPUT_SHOWN / 1024}K characters of ${o.length}; the download has all of it`) : null,
    o.done && !o.bytes ? h("div", { class: "muted" }, "the attempt wrote nothing") : null);
  return box;
}

function attemptBlock(a, zone) {
  const outcome = [a.status];
  if (a.exit_code !== null && a.exit_code !== undefined) outcome.push(`exit ${a.exit_code}`);
  if (a.signal) outcome.push(`signal ${a.signal}`);
  if (a.http_status) outcome.push(`HTTP ${a.http_status}`);
  return h("div", { class: "attempt", "data-attempt": a.attempt },
    h("div", {}, h("strong", {}, `Attempt ${a.attempt}: `), h("span", { class: `status ${a.status}` }, outcome.join(", ")),
      ` after ${duration(a.duration_ms)}`, a.host ? ` on ${a.host}` : "",
      a.will_retry && a.retry_at ? [", retried at ", when(a.retry_at, zone)] : null),
    a.error ? h("p", { class: "error" }, a.error) : null,
    a.stdout ? [h("div", { class: "muted" }, "stdout (tail)"), h("pre", { class: "stdout" }, a.stdout)] : null,
    a.stderr ? [h("div", { class: "muted" }, "stderr (tail)"), h("pre", { class: "stderr" }, a.stderr)] : null,
    !a.stdout && !a.stderr ? h("div", { class: "muted" }, "no output") : null,
    a.output_truncated ? h("div", { class: "muted" }, "the output was longer; only its tail is kept in the record") : null,
    a.result !== null && a.result !== undefined ? [h("div", { class: "muted" }, "result"), h("pre", { class: "result" }, JSON.stringify(a.result, null, 2))] : null,
    a.result_error ? h("p", { class: "error" }, `result: ${a.result_error}`) : null,
    // An HTTP job's attempt has no output file; every command's may.
    a.http_status ? null : outputBlock(a.job, a.run_id, a.attempt, false));
}

function runHistory(records, zone) {
  const runs = new Map();
  for (const r of records) {
    if (!runs.has(r.run_id)) runs.set(r.run_id, []);
    runs.get(r.run_id).push(r);
  }
  if (!runs.size) return h("p", { class: "muted" }, "No finished runs yet.");
  return h("div", { class: "runs", id: "runs" }, [...runs].map(([id, attempts]) => {
    attempts.sort((a, b) => a.attempt - b.attempt);
    const last = attempts[attempts.length - 1];
    const d = h("details", { "data-run-id": id, open: state.openRuns.has(id),
      ontoggle: (e) => (e.target.open ? state.openRuns.add(id) : state.openRuns.delete(id)) },
      h("summary", {}, h("span", { class: `status ${last.status}` }, last.will_retry ? "retrying" : last.status), " ",
        formatIn(zone).format(new Date(attempts[0].started_at)), ` · ${duration(last.duration_ms)} · ${last.trigger}`,
        attempts.length > 1 ? ` · ${attempts.length} attempts` : "", h("span", { class: "muted mono" }, ` ${id}`)),
      attempts.map((a) => attemptBlock(a, zone)));
    return d;
  }));
}

function chartSection(stats) {
  const periods = h("div", { class: "period actions", role: "group", "aria-label": "Chart period" },
    [7, 30, 90].map((n) => h("button", { type: "button", "aria-pressed": String(state.days === n), onclick: () => {
      state.days = n;
      state.job.stale = true;
      tick();
    } }, `${n} days`)));
  if (!stats) return [periods];
  const days = stats.days;
  const max = Math.max(0, ...days.map((d) => Object.values(d.runs).reduce((a, b) => a + b, 0)));
  return [periods,
    h("div", { class: "chart", id: "chart" }, outcomeChart(days)),
    h("div", { class: "legend" }, h("span", { class: "l-success" }, "succeeded"), h("span", { class: "l-failure" }, "failed, timed out, error, lost"), h("span", { class: "l-cancelled" }, "cancelled")),
    h("div", { class: "muted" }, `${days[0].date} to ${days[days.length - 1].date} (UTC days); the tallest bar is ${max} runs`)];
}

function jobView() {
  const data = state.job;
  const j = data && data.detail;
  if (!j) return [h("h1", {}, data ? data.id : ""), h("p", { class: "muted" }, "Loading…")];
  const mine = state.running.filter((r) => r.job === j.id);
  return [
    h("h1", { id: "job-title" }, j.id),
    j.description ? h("p", {}, j.description) : null,
    h("p", {}, h("code", {}, j.schedule), " · ", h("span", { id: "job-schedule-text" }, j.schedule_text), " · ",
      h("span", { class: `health-${j.health}` }, j.health.replace("_", " ")),
      j.paused ? h("span", { class: "paused", id: "job-paused" }, " · paused",
        j.pause && j.pause.reason ? `: ${j.pause.reason}` : "",
        j.pause && j.pause.until ? [" until ", when(j.pause.until, j.timezone)] : "",
        j.pause && j.pause.by ? ` (by ${j.pause.by})` : "") : null),
    actionButtons(j),
    mine.length ? [h("h2", {}, "Running now"), runningTable(mine, false),
      mine.map((r) => h("div", { class: "live" }, h("span", { class: "muted mono" }, `${r.run_id}, attempt ${r.attempt} `),
        outputBlock(r.job, r.run_id, r.attempt, true)))] : null,
    h("h2", {}, "Next runs"),
    j.paused ? h("p", { class: "paused" }, "Paused: these start only once it is resumed.") : null,
    h("ol", { id: "next-runs" }, j.next_runs.map((t) => h("li", {}, when(t, j.timezone)))),
    h("h2", {}, "Outcomes per day"),
    chartSection(data.stats),
    h("h2", {}, "Statistics (last 90 days)"),
    statsList(j.stats),
    h("h2", {}, "Run history"),
    runHistory(data.runs || [], j.timezone),
    h("h2", {}, "Settings"),
    h("dl", { class: "settings", id: "job-settings" },
      Object.entries(j).filter(([k]) => !SHOWN.has(k)).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, settingValue(v))])),
  ];
}

// ---- routing and refresh ----------------------------------------------------

function route() {
  const hash = location.hash || "#/";
  const m = hash.match(/^#\/job\/(.+)$/);
  if (m) return { view: "job", id: decodeURIComponent(m[1]) };
  if (hash === "#/running") return { view: "running" };
  return { view: "home" };
}

function render() {
  const r = route();
  const view = $("view");
  const focused = document.activeElement;
  const keep = focused && focused.id === "filter";
  if (r.view === "home") {
    // The filter keeps its focus and caret: only the parts around it change.
    if (!$("jobs")) view.replaceChildren(...homeView());
    else $("overview").replaceChildren(overview());
    fillJobsTable();
    if (keep) $("filter").focus();
  } else if (r.view === "running") {
    view.replaceChildren(...runningView());
  } else {
    view.replaceChildren(...jobView().flat(3).filter(Boolean));
  }
  document.title = r.view === "job" ? `${r.id} · cronduct` : "cronduct";
}

async function refreshJob(id, jobsChanged) {
  if (!state.job || state.job.id !== id) state.job = { id, detail: null, runs: null, stats: null, stale: true };
  const data = state.job;
  if (!jobsChanged && !data.stale) return false;
  data.stale = false;
  const [detail, runs, stats] = await Promise.all([
    api.get(api.jobPath(id)),
    api.get(`${api.jobPath(id, "/runs")}?limit=${RUNS_SHOWN}`),
    api.getConditional(`/api/v1/stats?days=${state.days}&job=${encodeURIComponent(id)}`),
  ]);
  data.detail = detail;
  data.runs = runs.runs;
  data.stats = stats.body;
  return true;
}

function stop() {
  clearTimeout(state.timer);
  state.timer = 0;
}

/** Health, status and the running runs into state. */
async function readSlow() {
  const [health, status, running] = await Promise.all([api.get("/health"), api.get("/api/v1/status"), api.get("/api/v1/running")]);
  state.health = health;
  state.status = status;
  state.running = running.running;
  state.slowAt = Date.now();
}

async function tick() {
  stop();
  if (state.busy) {
    state.again = true;
    return;
  }
  state.busy = true;
  try {
    // Health, status and the running runs, when already due, are asked
    // for alongside the job list, and the jobs table is drawn as soon as
    // the list is in: /api/v1/status with 1,000 jobs is the slowest
    // answer, and the first load should not wait for it.
    const due = () => state.running.length || (state.jobs || []).some((j) => j.running) ||
      Date.now() - state.slowAt >= SLOW_REFRESH_MS;
    let slow = due() ? readSlow() : null;
    // Handled below; this keeps a refusal of both from being reported
    // as unhandled when the job list's is thrown first.
    slow?.catch(() => {});
    const jobs = await api.getConditional("/api/v1/jobs");
    let changed = jobs.changed;
    state.jobs = jobs.body.jobs;
    if (!slow && due()) slow = readSlow();
    const r = route();
    if (r.view === "home" && (changed || state.rendered !== location.hash)) {
      state.rendered = location.hash;
      render();
      changed = false;
    }
    if (slow) {
      await slow;
      changed = true;
    }
    if (r.view === "job") changed = (await refreshJob(r.id, jobs.changed)) || changed;
    if (changed || state.rendered !== location.hash) {
      state.rendered = location.hash;
      render();
    }
  } catch (e) {
    state.busy = false;
    refused(e, "Reading the daemon's state");
    if (!(e instanceof api.ApiError && e.status === 401)) state.timer = setTimeout(tick, REFRESH_MS);
    return;
  }
  state.busy = false;
  if (state.again) {
    state.again = false;
    tick();
    return;
  }
  state.timer = setTimeout(tick, REFRESH_MS);
}

function start() {
  $("forget-key").hidden = false;
  notice("");
  tick();
  // The first sort and date format set up the browser's collation and time
  // zone data, which takes as long as drawing the first rows: done while
  // the job list is on its way.
  compare("a", "b");
  formatIn("UTC").format(Date.now());
}

// A module runs once the document is parsed, before DOMContentLoaded: the
// page starts from here, so the job list is asked for without waiting for
// the event.
$("key-form").addEventListener("submit", () => {
  const key = $("key-input").value.trim();
  if (!key) return;
  api.storeKey(key);
  api.forgetAnswers();
  start();
});
$("key-dialog").addEventListener("cancel", (e) => e.preventDefault());
$("forget-key").addEventListener("click", () => {
  stop();
  api.forgetKey();
  api.forgetAnswers();
  askKey("");
});
window.addEventListener("hashchange", () => {
  notice("");
  stopOutputs();
  if (route().view === "job") state.job = null;
  else render();
  tick();
  $("view").focus();
});
if (api.storedKey()) start();
else askKey("");
