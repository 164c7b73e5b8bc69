// The tanso node dashboard: plain DOM, data from /api/*, charts with uPlot.
// Everything user- or partner-supplied is set with textContent, never as HTML.
import uPlot from "uplot";

const PAGE = 50;
const POLL_MS = 5000;
let me = { user: "", role: "viewer" };
let lastOverview = null;
const pages = { footprints: 0, audit: 0 };
const charts = new Map();

// === helpers ===

async function api(path, options = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...options });
  if (res.status === 401) {
    location.href = "/login";
    throw new Error("logged out");
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

const $ = (id) => document.getElementById(id);
const fmt = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : n ?? "–");
const tiles = (name) => document.querySelectorAll(`[data-tile="${name}"]`);
function setTile(name, value) {
  for (const t of tiles(name)) t.textContent = value;
}

/** A table: columns are [title, row => cell text or node]. */
function table(columns, rows, empty = "no rows") {
  const head = el("tr", {}, columns.map(([t]) => el("th", {}, t)));
  const body = rows.length
    ? rows.map((r) =>
        el("tr", {}, columns.map(([, f]) => {
          const v = f(r);
          return el("td", {}, v instanceof Node ? v : v ?? "");
        })),
      )
    : [el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, empty))];
  return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
}

function pager(key, total, reload) {
  const offset = pages[key];
  const last = Math.max(0, Math.ceil(total / PAGE) - 1);
  const page = Math.floor(offset / PAGE);
  const go = (p) => () => {
    pages[key] = Math.min(Math.max(p, 0), last) * PAGE;
    reload();
  };
  return el("div", { class: "pager" },
    el("button", { onclick: go(0), disabled: page === 0 ? "" : null }, "« first"),
    el("button", { onclick: go(page - 1), disabled: page === 0 ? "" : null }, "‹ newer"),
    ` page ${fmt(page + 1)} of ${fmt(last + 1)} (${fmt(total)} rows) `,
    el("button", { onclick: go(page + 1), disabled: page >= last ? "" : null }, "older ›"),
    el("button", { onclick: go(last), disabled: page >= last ? "" : null }, "last »"),
  );
}

function replace(id, ...nodes) {
  const target = $(id);
  if (target) target.replaceChildren(...nodes);
}

function chart(id, opts, data) {
  const host = $(id);
  if (!host) return;
  const old = charts.get(id);
  if (old) old.destroy();
  host.replaceChildren();
  const width = Math.max(320, host.clientWidth || 900);
  charts.set(id, new uPlot({ width, height: 220, ...opts }, data, host));
}

const short = (s, n = 13) => (s && s.length > n ? s.slice(0, n) + "…" : s);

// === overview ===

function renderOverview(o) {
  lastOverview = o;
  $("company").textContent = `${o.company.name} · ${o.company.id}`;
  setTile("footprints", fmt(o.footprints.total));
  $("fp-sub").textContent = `${fmt(o.footprints.active)} active, ${fmt(o.footprints.deprecated)} deprecated`;
  setTile("partners", fmt(o.partners));
  setTile("directory", o.directory.note);
  setTile("pending-requests", fmt(o.requests.pending));
  $("req-sub").textContent = o.requests.enabled ? "" : o.requests.note;
  const ex = o.exchange;
  setTile("exchange", ex.ready ? fmt(ex.permitted_total) : "indexing…");
  setTile("exchange-24h", ex.ready ? fmt(ex.permitted_24h) : "…");
  setTile("audit-entries", fmt(o.audit.entries));
  const c = o.audit.chain;
  const upTo = c.verified_entries < o.audit.entries ? `${fmt(c.verified_entries)} of ${fmt(o.audit.entries)}` : fmt(c.verified_entries);
  setTile("chain", c.status === "ok" ? `ok (${upTo} verified)` : c.status);
  for (const t of tiles("chain")) t.className = `chain-${c.status}`;
  renderChain(c);
  const days = ex.days || [];
  const key = JSON.stringify(days);
  if (chart.lastDays !== key && days.length) {
    chart.lastDays = key;
    const xs = days.map((_, i) => i);
    chart("exchange-chart", {
      scales: { x: { time: false } },
      axes: [{ values: (_, ticks) => ticks.map((i) => days[i]?.day.slice(5) ?? "") }, {}],
      series: [
        { label: "day", value: (_, i) => days[i]?.day ?? "" },
        { label: "permitted", stroke: "#1b7f5a", fill: "rgba(27,127,90,.15)", paths: uPlot.paths.bars({ size: [0.6, 40] }) },
        { label: "denied", stroke: "#b3261e", width: 2 },
      ],
    }, [xs, days.map((d) => d.permitted), days.map((d) => d.denied)]);
  }
  if (!document.body.dataset.ready) {
    // Time from navigation start to tiles with data (read by the benchmark).
    document.body.dataset.readyMs = String(Math.round(performance.now()));
    document.body.dataset.ready = "1";
  }
}

function renderChain(c) {
  const problems = c.problems?.length ? ` Problems: ${c.problems.join("; ")}` : "";
  const when = c.checked_at ? ` (checked ${c.checked_at}, ${fmt(c.verified_entries)} entries)` : "";
  const text = {
    ok: "Audit chain verified: hashes, sequence and signed head match.",
    broken: "Audit chain BROKEN.",
    pending: "Audit chain verification is running in the background.",
  }[c.status] || c.status;
  const node = $("chain-status");
  node.textContent = text + when + problems;
  node.className = `note chain-${c.status}`;
}

async function refreshOverview() {
  const o = await api("/api/overview");
  const prev = lastOverview;
  renderOverview(o);
  // New data without a reload: refresh the visible table when its source changed.
  const view = current();
  if (!prev) return;
  if (view === "audit" && prev.audit.entries !== o.audit.entries && pages.audit === 0) loadAudit();
  if ((view === "footprints" || view === "overview") &&
      (prev.footprints.total !== o.footprints.total || prev.footprints.active !== o.footprints.active ||
       prev.exchange.permitted_total !== o.exchange.permitted_total)) {
    view === "overview" ? loadOverviewFootprints() : loadFootprints();
  }
  if (view === "requests" && prev.requests.pending !== o.requests.pending) loadRequests();
  if (view === "partners" && prev.partners !== o.partners) loadPartners();
}

// === footprints ===

function footprintColumns(withActions) {
  const cols = [
    ["Product", (r) => el("span", { title: r.productIds.join(", ") }, r.productName)],
    ["Footprint id", (r) => el("code", { title: r.id }, short(r.id))],
    ["Status", (r) => el("span", { class: `status-${r.status.toLowerCase()}` }, r.status)],
    ["Version", (r) => {
      const parts = [`v${r.version}`];
      if (r.preceding.length) parts.push(` replaces ${r.preceding.map((p) => short(p, 8)).join(", ")}`);
      if (r.supersededBy.length) parts.push(` → ${r.supersededBy.map((p) => short(p, 8)).join(", ")}`);
      return parts.join("");
    }],
    ["PCF (kgCO2e)", (r) => `${r.pcf} / ${r.declaredUnit}`],
    ["Published", (r) => r.publishedAt.slice(0, 19).replace("T", " ")],
    ["Received by", (r) => r.receivedBy.length
      ? r.receivedBy.map((x) => `${x.company} (${x.count})`).join(", ")
      : "nobody yet"],
  ];
  if (withActions && me.role === "admin") {
    cols.push(["", (r) => r.status === "Active"
      ? el("button", { class: "danger", onclick: () => deprecate(r.id) }, "Deprecate")
      : ""]);
  }
  return cols;
}

async function loadOverviewFootprints() {
  const f = await api(`/api/footprints?offset=0&limit=10`);
  replace("overview-footprints", table(footprintColumns(false), f.items, "no footprints published"));
}

async function loadFootprints() {
  const f = await api(`/api/footprints?offset=${pages.footprints}&limit=${PAGE}`);
  replace("footprints-table",
    table(footprintColumns(true), f.items, "no footprints published"),
    pager("footprints", f.total, loadFootprints));
}

async function deprecate(id) {
  if (!confirm(`Deprecate footprint ${id}? Partners will see it as Deprecated.`)) return;
  try {
    await api(`/api/footprints/${encodeURIComponent(id)}/deprecate`, {
      method: "POST",
      headers: { "x-tanso-csrf": "1" },
    });
  } catch (e) {
    alert(`Could not deprecate: ${e.message}`);
  }
  loadFootprints();
  refreshOverview();
}

// === requests, partners, audit ===

async function loadRequests() {
  const r = await api("/api/requests");
  $("requests-note").textContent = r.enabled ? "" : r.note;
  const cols = [
    ["Id", (x) => x.id], ["Company", (x) => x.company], ["Product", (x) => x.product_id],
    ["Status", (x) => x.status], ["Created", (x) => x.created_at],
  ];
  replace("requests-inbox", table(cols, r.inbox, r.enabled ? "no requests" : r.note));
  replace("requests-outbox", table(cols, r.outbox, r.enabled ? "no requests" : r.note));
}

async function loadPartners() {
  const p = await api("/api/partners");
  $("directory-note").textContent = `Directory: ${p.directory.note}`;
  replace("partners-table", table([
    ["Company", (x) => x.name], ["Company id", (x) => x.companyId], ["Groups", (x) => x.groups.join(", ")],
    ["Endpoint", (x) => x.endpoint], ["Key id", (x) => el("code", {}, x.keyId)],
    ["Requests", (x) => fmt(x.requests)], ["Last seen", (x) => x.lastSeen ?? "never"],
    ["Added", (x) => x.addedAt.slice(0, 10)],
  ], p.items, "no partners yet"));
}

async function loadAudit() {
  const a = await api(`/api/audit?offset=${pages.audit}&limit=${PAGE}`);
  renderChain(a.chain);
  replace("audit-table", table([
    ["#", (e) => e.seq], ["At", (e) => e.at.replace("T", " ").slice(0, 23)], ["Caller", (e) => e.caller],
    ["Method", (e) => e.method.split("/").pop()], ["Targets", (e) => (e.targets || []).map((t) => short(t, 20)).join(", ")],
    ["Decision", (e) => el("span", { class: `decision-${e.decision}` }, e.decision)],
    ["Rule / reason", (e) => [e.rule, e.reason].filter(Boolean).join(" · ")],
  ], a.items, "the audit log is empty"), pager("audit", a.total, loadAudit));
}

// === scope 3 and KPIs ===

function notConfigured(id, r, what) {
  if (!r.configured) {
    replace(id, el("p", { class: "note" }, `${what}: ${r.note} (set [dashboard] ${what === "Scope 3" ? "ledger" : "kpi_config and kpi_measures"} in config.toml).`));
    return true;
  }
  if (r.error) {
    replace(id, el("p", { class: "note chain-broken" }, `${what} could not be calculated: ${r.error}`));
    return true;
  }
  return false;
}

async function loadScope3() {
  const r = await api("/api/scope3");
  if (notConfigured("scope3-body", r, "Scope 3")) return;
  const rep = r.report;
  const pct = (c) => {
    const e = Number(c.emissions.kg), p = Number(c.primary.kg);
    return e > 0 ? `${((100 * p) / e).toFixed(1)} %` : "–";
  };
  replace("scope3-body",
    el("div", { class: "tiles" },
      el("div", { class: "tile" }, el("div", { class: "label" }, "Scope 3 total (t CO2e)"), el("div", { class: "value", "data-tile": "scope3-total" }, rep.total.t)),
      el("div", { class: "tile" }, el("div", { class: "label" }, "Primary data share"), el("div", { class: "value", "data-tile": "scope3-primary" }, rep.primary_data_share_pct != null ? `${Number(rep.primary_data_share_pct).toFixed(1)} %` : "–"))),
    el("div", { id: "scope3-chart", class: "chart" }),
    table([
      ["#", (c) => c.number], ["Category", (c) => c.name], ["t CO2e", (c) => c.emissions.t],
      ["Primary t CO2e", (c) => c.primary.t], ["Primary share", pct], ["Lines", (c) => c.lines],
      ["Excluded", (c) => c.excluded ?? ""],
    ], rep.categories));
  const cats = rep.categories;
  chart("scope3-chart", {
    scales: { x: { time: false } },
    axes: [{ values: (_, ticks) => ticks.map((i) => (cats[i] ? `C${cats[i].number}` : "")) }, { label: "t CO2e" }],
    series: [
      {},
      { label: "total", stroke: "#35618f", fill: "rgba(53,97,143,.35)", paths: uPlot.paths.bars({ size: [0.7, 60] }) },
      { label: "primary", stroke: "#1b7f5a", fill: "rgba(27,127,90,.5)", paths: uPlot.paths.bars({ size: [0.35, 30] }) },
    ],
  }, [cats.map((_, i) => i), cats.map((c) => Number(c.emissions.t)), cats.map((c) => Number(c.primary.t))]);
}

async function loadKpi() {
  const r = await api("/api/kpi");
  if (notConfigured("kpi-body", r, "KPIs")) return;
  const rep = r.report;
  const body = [el("p", { class: "note" }, `${rep.title} · period ${rep.period}`)];
  const plots = [];
  for (const s of rep.sections) {
    body.push(el("h3", {}, s.name));
    const row = el("div", { class: "tiles" });
    for (const k of s.kpis) {
      const state = k.warning ? "warning" : k.off_track === true ? "off" : k.off_track === false ? "on" : "";
      const id = `kpi-chart-${plots.length}`;
      row.append(el("div", { class: `tile kpi kpi-${state}` },
        el("div", { class: "label" }, k.title || k.name),
        el("div", { class: "value" }, k.value != null ? `${k.value} ${k.unit}` : (k.not_available || "n/a")),
        el("div", { class: "sub" },
          k.achievement_pct != null ? `target achievement ${k.achievement_pct} %` : "",
          k.target_progress_pct != null ? ` · progress ${k.target_progress_pct} %` : "",
          k.change_vs_last_year_pct != null ? ` · ${k.change_vs_last_year_pct} % vs last year` : "",
          k.grade ? ` · grade ${k.grade}` : ""),
        k.warning ? el("div", { class: "sub warn" }, k.warning) : null,
        el("div", { id, class: "chart small" })));
      plots.push([id, k]);
    }
    body.push(row);
  }
  replace("kpi-body", ...body);
  for (const [id, k] of plots) {
    const pts = (k.series || []).filter((p) => p.value != null || p.trajectory != null);
    if (!pts.length) continue;
    const host = $(id);
    const series = [{}, { label: "value", stroke: "#35618f", width: 2 }];
    const data = [pts.map((_, i) => i), pts.map((p) => (p.value == null ? null : Number(p.value)))];
    if (pts.some((p) => p.trajectory != null)) {
      series.push({ label: "target path", stroke: "#b07d00", dash: [6, 4] });
      data.push(pts.map((p) => (p.trajectory == null ? null : Number(p.trajectory))));
    }
    const old = charts.get(id);
    if (old) old.destroy();
    charts.set(id, new uPlot({
      width: Math.max(260, host.clientWidth || 300), height: 140, legend: { show: false },
      scales: { x: { time: false } },
      axes: [{ values: (_, t) => t.map((i) => pts[i]?.period ?? "") , size: 30 }, { size: 50 }],
      series,
    }, data, host));
  }
}

// === navigation ===

const loaders = {
  overview: () => loadOverviewFootprints(),
  footprints: loadFootprints,
  requests: loadRequests,
  partners: loadPartners,
  audit: loadAudit,
  scope3: loadScope3,
  kpi: loadKpi,
};

function current() {
  const v = location.hash.slice(1);
  return v in loaders ? v : "overview";
}

function show() {
  const view = current();
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== view;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.getAttribute("href") === `#${view}`);
  loaders[view]().catch(report);
}

function report(e) {
  if (e.message !== "logged out") console.error(e);
}

async function start() {
  me = await api("/api/me");
  $("user").textContent = `${me.user} (${me.role})`;
  window.addEventListener("hashchange", show);
  await refreshOverview();
  show();
  setInterval(() => refreshOverview().catch(report), POLL_MS);
}

start().catch(report);
