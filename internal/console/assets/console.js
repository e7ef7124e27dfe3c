// RGrid console: the live parts. Job output is only ever put in the page
// as text nodes (textContent), never as HTML: ANSI SGR colours become
// <span class> elements, every other escape sequence (OSC 8 links
// included) is dropped.
"use strict";

const csrf = document.querySelector('meta[name="csrf"]').content;

function api(method, path) {
  return fetch(path, {method, headers: {"X-RGrid-CSRF": csrf}, credentials: "same-origin"});
}

// ansiNodes turns terminal text into DOM nodes: text nodes in spans whose
// classes carry the SGR state, kept in sgr ({classes: []}) from one call
// to the next (a colour set on one line holds on the next). Exported for
// the tests as window.rgridAnsi.
function ansiNodes(text, sgr) {
  sgr = sgr || {classes: []};
  const out = [];
  // CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), other ESC x.
  const re = /\x1b\[([0-9;?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/g;
  let last = 0, m;
  const push = (s) => {
    if (!s) return;
    const span = document.createElement("span");
    if (sgr.classes.length) span.className = sgr.classes.join(" ");
    span.textContent = s;
    out.push(span);
  };
  while ((m = re.exec(text)) !== null) {
    push(text.slice(last, m.index));
    last = re.lastIndex;
    if (m[2] !== "m") continue; // not SGR: dropped
    for (const p of (m[1] || "0").split(";")) {
      const n = parseInt(p || "0", 10);
      const fg = (c) => !/^ansi-3/.test(c);
      if (n === 0) sgr.classes = [];
      else if (n === 1) sgr.classes.push("ansi-bold");
      else if (n >= 30 && n <= 37) sgr.classes = sgr.classes.filter(fg).concat("ansi-" + n);
      else if (n >= 90 && n <= 97) sgr.classes = sgr.classes.filter(fg).concat("ansi-" + (n - 60));
      else if (n === 39) sgr.classes = sgr.classes.filter(fg);
    }
  }
  push(text.slice(last));
  return out;
}
window.rgridAnsi = ansiNodes;

const logout = document.getElementById("logout");
if (logout) logout.onclick = async () => { await api("POST", "/logout"); location.href = "/login"; };

const cancel = document.getElementById("cancel");
if (cancel) cancel.onclick = async () => {
  const r = await api("POST", "/v1/jobs/" + cancel.dataset.job + "/cancel");
  if (r.ok) { cancel.disabled = true; cancel.textContent = "Cancel requested"; }
  else { const e = await r.json(); alert(e.error.message + "\n" + (e.error.hint || "")); }
};

const log = document.getElementById("log");
if (log) {
  const job = log.dataset.job;
  const show = {stdout: document.getElementById("show-stdout"), stderr: document.getElementById("show-stderr")};
  const search = document.getElementById("search");
  const apply = (line) => {
    const st = line.dataset.stream;
    const q = search.value;
    const hide = (show[st] && !show[st].checked) || (q && !line.dataset.text.includes(q));
    line.classList.toggle("hidden", !!hide);
  };
  const applyAll = () => log.childNodes.forEach(apply);
  show.stdout.onchange = show.stderr.onchange = search.oninput = applyAll;
  // Each stream's output is cut into lines as it comes: a chunk may end
  // in the middle of one, which the next chunk of that stream goes on.
  const open = {}, sgr = {};
  const add = (chunk) => {
    const st = chunk.stream;
    sgr[st] = sgr[st] || {classes: []};
    const pieces = chunk.data.split("\n");
    pieces.forEach((piece, i) => {
      let line = open[st];
      if (!line) {
        line = document.createElement("div");
        line.className = st;
        line.dataset.stream = st;
        line.dataset.text = "";
        log.appendChild(line);
        open[st] = line;
      }
      line.dataset.text += piece;
      for (const n of ansiNodes(piece, sgr[st])) line.appendChild(n);
      apply(line);
      if (i < pieces.length - 1) open[st] = null; // the line ended
    });
    if (open[st] && !open[st].dataset.text) { open[st].remove(); open[st] = null; }
  };
  const es = new EventSource("/v1/jobs/" + job + "/logs/sse?stream=stdout,stderr");
  const text = (b64) => new TextDecoder().decode(Uint8Array.from(atob(b64 || ""), (c) => c.charCodeAt(0)));
  const state = document.getElementById("state");
  let printed = false;
  es.addEventListener("chunk", (e) => {
    const c = JSON.parse(e.data); c.data = text(c.data); add(c);
    // A job that prints runs: the page was rendered before it started.
    if (state.textContent === "queued" || state.textContent === "leased") { state.textContent = "running"; state.className = "state running"; }
    if (!printed) { printed = true; refreshAttempts(job); }
  });
  es.addEventListener("end", (e) => {
    es.close();
    const end = JSON.parse(e.data);
    state.textContent = end.state; state.className = "state " + end.state;
    log.dataset.ended = "true";
    if (cancel) cancel.remove();
    refreshAttempts(job);
  });
}

const retry = document.getElementById("retry");
if (retry) retry.onclick = async () => {
  const r = await api("POST", "/v1/batches/" + retry.dataset.batch + "/retry");
  if (r.ok) location.reload();
  else { const e = await r.json(); alert(e.error.message + "\n" + (e.error.hint || "")); }
};

// refreshAttempts renders the job page's attempts again from the API: the
// page was rendered once, and their states, times and costs move on
// while it is open. Every value goes in as text.
async function refreshAttempts(job) {
  const tbody = document.querySelector("#attempts tbody");
  if (!tbody) return;
  const r = await api("GET", "/v1/jobs/" + encodeURIComponent(job));
  if (!r.ok) return;
  const j = await r.json();
  const when = (t) => t ? new Date(t).toISOString().replace("T", " ").slice(0, 19) : "—";
  const rows = (j.attempts || []).map((a) => {
    const tr = document.createElement("tr");
    for (const v of [a.number, a.worker_id, a.state, when(a.started_at), when(a.finished_at), money(a.cost)]) {
      const td = document.createElement("td");
      td.textContent = String(v);
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    const link = document.createElement("a");
    link.href = "/v1/jobs/" + encodeURIComponent(job) + "/logs/text?stream=both&attempt=" + a.number;
    link.textContent = "text";
    td.appendChild(link);
    tr.appendChild(td);
    return tr;
  });
  if (rows.length) tbody.replaceChildren(...rows);
}

// money writes micro-units as the server does (internal/money.Format):
// at least two decimals, no trailing zeros past them.
function money(m) {
  if (!m) return "—";
  const whole = Math.floor(m.micros / 1e6);
  let frac = String(m.micros % 1e6).padStart(6, "0").replace(/0+$/, "");
  while (frac.length < 2) frac += "0";
  return whole + "." + frac + " " + m.currency;
}

// A batch's counts, spend and projection follow the API every 2 s until
// every item has ended.
const counts = document.getElementById("counts");
if (counts) {
  const poll = async () => {
    let done = false;
    try {
      const r = await api("GET", "/v1/batches/" + counts.dataset.batch);
      if (r.ok) {
        const b = await r.json();
        counts.querySelectorAll("[data-count]").forEach((td) => { td.textContent = String(b.counts[td.dataset.count] || 0); });
        document.getElementById("spent").textContent = money(b.cost);
        document.getElementById("projected").textContent = money(b.projected);
        counts.dataset.polled = String(Number(counts.dataset.polled || 0) + 1);
        done = b.finished;
      }
    } catch (e) { /* the next poll tries again */ }
    if (!done) setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
}
