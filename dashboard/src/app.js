// The tanso node dashboard: plain DOM, data from /api/*, charts with uPlot (overview and
// Scope 3) and small SVG charts (KPI tiles: axis labels, reference lines and notes are DOM
// text, so they can be read and measured).
// Everything user- or partner-supplied is set with textContent, never as HTML.
// Figures come from the API as exact decimal strings, already rounded by the engine; the page
// only formats them (the user's locale, thousands separators) and never recomputes them.
import uPlot from "uplot";

const PAGE = 50;
const POLL_MS = 5000;
let me = { user: "", role: "viewer" };
let lastOverview = null;
const pages = { footprints: 0, audit: 0 };
const charts = new Map();
const SVG = "http://www.w3.org/2000/svg";

// === helpers ===

async function api(path, options = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...options });
  if (res.status === 401) {
    location.href = "login";
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
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

const $ = (id) => document.getElementById(id);
const tiles = (name) => document.querySelectorAll(`[data-tile="${name}"]`);
function setTile(name, value) {
  for (const t of tiles(name)) t.textContent = value;
}

// === numbers in the user's locale ===

// `undefined` is the browser's locale. Rounding (where the page rounds at all: Scope 3
// tonnes to the kg) is half away from zero, as in the engines.
const formats = new Map();
function numberFormat(options) {
  const key = JSON.stringify(options);
  if (!formats.has(key)) formats.set(key, new Intl.NumberFormat(undefined, { roundingMode: "halfExpand", ...options }));
  return formats.get(key);
}

/** A count, with thousands separators. */
const fmt = (n) => (typeof n === "number" ? numberFormat({ maximumFractionDigits: 0 }).format(n) : n ?? "–");

/** Decimal places of a decimal string as the engine wrote it ("71000.0" has 1). */
function scaleOf(s) {
  const m = /\.(\d+)$/.exec(String(s).trim());
  return m ? m[1].length : 0;
}

/** An exact decimal string with thousands separators, keeping its scale ("71000.0" → "71,000.0"). */
function fmtDec(s) {
  if (s === null || s === undefined || s === "") return "–";
  const d = scaleOf(s);
  // A string argument is formatted as the exact decimal it spells (Intl.NumberFormat v3).
  return numberFormat({ minimumFractionDigits: d, maximumFractionDigits: d }).format(String(s));
}

/** A decimal string shown with exactly `d` places (rounded half away from zero). */
function fmtFixed(s, d) {
  if (s === null || s === undefined || s === "") return "–";
  return numberFormat({ minimumFractionDigits: d, maximumFractionDigits: d }).format(String(s));
}

/** A percentage from the engine, e.g. "−50 %" for a reduction of "50". */
function fmtPct(s) {
  return s === null || s === undefined ? "–" : `${fmtDec(s)} %`;
}

/**
 * Axis labels for tick values: compact notation ("13M", "1.5K", in Korean "1303만"), all with
 * the same number of decimals, the fewest that show every tick exactly.
 */
function compactLabels(values) {
  const most = 6;
  for (let d = 0; ; d++) {
    const short = numberFormat({ notation: "compact", minimumFractionDigits: d, maximumFractionDigits: d });
    const long = numberFormat({ notation: "compact", minimumFractionDigits: d, maximumFractionDigits: d + 4 });
    const labels = values.map((v) => short.format(v));
    if (d === most || values.every((v, i) => long.format(v) === labels[i])) return { digits: d, labels };
  }
}

/** Tick values for [lo, hi]: multiples of 1, 2, 2.5 or 5 × 10^k, about `count` of them. */
function niceTicks(lo, hi, count) {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const clean = (v) => Number(v.toPrecision(12));
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step);
  const ticks = [];
  for (let i = first; i <= last; i++) ticks.push(clean(i * step));
  return ticks;
}

/** A table (in a box that scrolls sideways on a narrow screen): columns are [title, row => cell text or node]. */
function table(columns, rows, empty = "no rows") {
  const head = el("tr", {}, columns.map(([t]) => el("th", {}, t)));
  const body = rows.length
    ? rows.map((r) =>
        el("tr", {}, columns.map(([, f, cls]) => {
          const v = f(r);
          return el("td", { class: cls }, v instanceof Node ? v : v ?? "");
        })),
      )
    : [el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, empty))];
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body)));
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
    el("button", { onclick: go(0), disabled: page === 0 }, "« first"),
    el("button", { onclick: go(page - 1), disabled: page === 0 }, "‹ newer"),
    ` page ${fmt(page + 1)} of ${fmt(last + 1)} (${fmt(total)} rows) `,
    el("button", { onclick: go(page + 1), disabled: page >= last }, "older ›"),
    el("button", { onclick: go(last), disabled: page >= last }, "last »"),
  );
}

function replace(id, ...nodes) {
  const target = $(id);
  if (target) target.replaceChildren(...nodes);
}

// === charts ===

/** The width inside `host`'s padding: what a chart drawn in it may use. */
function contentWidth(host) {
  const style = getComputedStyle(host);
  return Math.floor(host.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight));
}

/** Redraws `draw(width)` whenever `host` changes width (and once it first has one). */
function onWidth(id, host, draw) {
  const old = charts.get(id);
  if (old) old.dispose();
  let width = -1;
  const redraw = () => {
    const w = contentWidth(host);
    if (w > 0 && w !== width) {
      width = w;
      draw(w);
    }
  };
  const watcher = new ResizeObserver(redraw);
  watcher.observe(host);
  const entry = { dispose: () => watcher.disconnect() };
  charts.set(id, entry);
  redraw();
  return entry;
}

/** Tick steps for counts: whole numbers only. */
const WHOLE = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9].map((p) => m * p)).sort((a, b) => a - b);

/** A y axis whose width fits its widest label (uPlot's default is a fixed 50 px). */
function yAxis(unit, counts = false) {
  return {
    ...(counts ? { incrs: WHOLE } : {}),
    values: (_, splits) => compactLabels(splits).labels,
    size(u, values, axisIdx, cycle) {
      const axis = u.axes[axisIdx];
      if (cycle > 1) return axis._size;
      u.ctx.font = axis.font[0];
      const widest = Math.max(0, ...(values || []).map((v) => u.ctx.measureText(v).width));
      return Math.ceil(widest / uPlot.pxRatio) + (axis.ticks.show ? axis.ticks.size : 0) + axis.gap + 6;
    },
    label: unit,
    labelSize: unit ? 18 : 0,
  };
}

/** A uPlot chart in `host` that resizes with it. */
function plot(id, opts, data, height = 220) {
  const host = $(id);
  if (!host) return;
  let u = null;
  const entry = onWidth(id, host, (width) => {
    if (u) u.setSize({ width, height });
    else {
      host.replaceChildren();
      u = new uPlot({ width, height, ...opts }, data, host);
    }
  });
  const dispose = entry.dispose;
  entry.dispose = () => {
    dispose();
    if (u) u.destroy();
  };
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
  if (renderOverview.lastDays !== key && days.length) {
    renderOverview.lastDays = key;
    const xs = days.map((_, i) => i);
    plot("exchange-chart", {
      scales: { x: { time: false, range: [-0.5, days.length - 0.5] } },
      axes: [{ incrs: [1, 2, 5, 7, 14], values: (_, ticks) => ticks.map((i) => days[i]?.day.slice(5) ?? "") }, yAxis("requests", true)],
      series: [
        { label: "day", value: (_, i) => days[i]?.day ?? "" },
        { label: "permitted", stroke: "#1b7f5a", fill: "rgba(27,127,90,.15)", paths: uPlot.paths.bars({ size: [0.6, 40] }), value: (_, v) => fmt(v) },
        { label: "denied", stroke: "#b3261e", width: 2, value: (_, v) => fmt(v) },
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
  const o = await api("api/overview");
  const prev = lastOverview;
  renderOverview(o);
  // New data without a reload: refresh the visible table when its source changed.
  const view = current().view;
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
    ["PCF (kgCO2e)", (r) => `${fmtDec(r.pcf)} / ${r.declaredUnit}`, "num"],
    ["Published", (r) => r.publishedAt.slice(0, 19).replace("T", " ")],
    ["Received by", (r) => r.receivedBy.length
      ? r.receivedBy.map((x) => `${x.company} (${fmt(x.count)})`).join(", ")
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
  const f = await api(`api/footprints?offset=0&limit=10`);
  replace("overview-footprints", table(footprintColumns(false), f.items, "no footprints published"));
}

async function loadFootprints() {
  const f = await api(`api/footprints?offset=${pages.footprints}&limit=${PAGE}`);
  replace("footprints-table",
    table(footprintColumns(true), f.items, "no footprints published"),
    pager("footprints", f.total, loadFootprints));
}

async function deprecate(id) {
  if (!confirm(`Deprecate footprint ${id}? Partners will see it as Deprecated.`)) return;
  try {
    await api(`api/footprints/${encodeURIComponent(id)}/deprecate`, {
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
  const r = await api("api/requests");
  $("requests-note").textContent = r.enabled ? "" : r.note;
  const cols = [
    ["Id", (x) => x.id], ["Company", (x) => x.company], ["Product", (x) => x.product_id],
    ["Status", (x) => x.status], ["Created", (x) => x.created_at],
  ];
  replace("requests-inbox", table(cols, r.inbox, r.enabled ? "no requests" : r.note));
  replace("requests-outbox", table(cols, r.outbox, r.enabled ? "no requests" : r.note));
}

async function loadPartners() {
  const p = await api("api/partners");
  $("directory-note").textContent = `Directory: ${p.directory.note}`;
  replace("partners-table", table([
    ["Company", (x) => x.name], ["Company id", (x) => x.companyId], ["Groups", (x) => x.groups.join(", ")],
    ["Endpoint", (x) => x.endpoint], ["Key id", (x) => el("code", {}, x.keyId)],
    ["Requests", (x) => fmt(x.requests), "num"], ["Last seen", (x) => x.lastSeen ?? "never"],
    ["Added", (x) => x.addedAt.slice(0, 10)],
  ], p.items, "no partners yet"));
}

async function loadAudit() {
  const a = await api(`api/audit?offset=${pages.audit}&limit=${PAGE}`);
  renderChain(a.chain);
  replace("audit-table", table([
    ["#", (e) => fmt(e.seq), "num"], ["At", (e) => e.at.replace("T", " ").slice(0, 23)], ["Caller", (e) => e.caller],
    ["Method", (e) => e.method.split("/").pop()], ["Targets", (e) => (e.targets || []).map((t) => short(t, 20)).join(", ")],
    ["Decision", (e) => el("span", { class: `decision-${e.decision}` }, e.decision)],
    ["Rule / reason", (e) => [e.rule, e.reason].filter(Boolean).join(" · ")],
  ], a.items, "the audit log is empty"), pager("audit", a.total, loadAudit));
}

// === scope 3 ===

function notConfigured(id, r, what) {
  if (!r.configured) {
    const keys = { "Scope 3": "ledger", Monitoring: "kpi_config, inventory, kpi_measures and action_plans" }[what] || "kpi_config and kpi_measures";
    replace(id, el("p", { class: "note" }, `${what}: ${r.note} (set [dashboard] ${keys} in config.toml).`));
    return true;
  }
  if (r.error) {
    replace(id, el("p", { class: "note chain-broken" }, `${what} could not be calculated: ${r.error}`));
    return true;
  }
  return false;
}

/** Tonnes to the kg, the same number of decimals in every cell. */
const tonnes = (e) => fmtFixed(e.t, 3);

function tile(label, value, name, ...sub) {
  return el("div", { class: "tile" },
    el("div", { class: "label" }, label),
    el("div", { class: "value", "data-tile": name }, value),
    sub.length ? el("div", { class: "sub" }, ...sub) : null);
}

/** The view's options live in the address (`#scope3?year=2025&exclude=8`), so a view can be linked. */
function scope3Go(year, exclude8) {
  const q = new URLSearchParams();
  if (year) q.set("year", year);
  q.set("exclude", exclude8 ? "8" : "");
  location.hash = `scope3?${q}`;
}

async function loadScope3() {
  const query = current().query;
  $("scope3-csv").href = `api/scope3.csv${query ? `?${query}` : ""}`;
  let r;
  try {
    r = await api(`api/scope3${query ? `?${query}` : ""}`);
  } catch (e) {
    if (e.message === "logged out") throw e;
    replace("scope3-body", el("p", { class: "note chain-broken" }, `Scope 3: ${e.message}`));
    return;
  }
  if (notConfigured("scope3-body", r, "Scope 3")) return;
  const rep = r.report;
  const opt = r.options;
  const excluded = opt.exclude.includes(8);
  const years = opt.years.includes(opt.year) || opt.year == null ? opt.years : [...opt.years, opt.year].sort();
  const yearSelect = el("select", { id: "scope3-year", onchange: (e) => scope3Go(e.target.value, excluded), disabled: !years.length },
    years.length
      ? years.map((y) => el("option", { value: y, selected: y === opt.year }, String(y)))
      : el("option", {}, "the ledger names no year"));
  const eight = opt.excludable.find((x) => x.number === 8);
  const controls = el("form", { class: "controls", onsubmit: (e) => e.preventDefault() },
    el("label", {}, "Reporting year ", yearSelect),
    el("label", {},
      el("input", { type: "checkbox", id: "scope3-exclude-8", checked: excluded, onchange: (e) => scope3Go(opt.year, e.target.checked) }),
      ` Leave out category 8, ${eight.name} (${eight.reason})`));
  const cats = rep.categories;
  const capital = cats.find((c) => c.number === 2);
  const notes = [
    el("p", { class: "note" },
      opt.year != null
        ? `Reporting year ${opt.year}: category 2 counts the capital goods acquired in ${opt.year}, in full (GHG Protocol: no amortisation; ${fmt(capital.lines)} of them).`
        : "The ledger names no year (no capital goods, no spend), so no reporting year applies."),
  ];
  if (rep.avoided) {
    const note = rep.avoided.note;
    notes.push(el("p", { class: "note avoided-note", "data-section-note": "avoided" }, el("strong", {}, "Never netted. "),
      `${note[0].toUpperCase()}${note.slice(1)}: ${fmtFixed(rep.avoided.total.t, 3)} t CO2e.`));
  }
  replace("scope3-body",
    controls,
    el("div", { class: "tiles" },
      tile("Scope 3 total (t CO2e)", tonnes(rep.total), "scope3-total", opt.year != null ? `reporting year ${opt.year}` : "all years"),
      tile("Primary data share", rep.primary_data_share_pct != null ? `${fmtFixed(rep.primary_data_share_pct, 1)} %` : "–", "scope3-primary", "supplier-specific ÷ total"),
      tile("Categories left out", excluded ? "8" : "none", "scope3-excluded", excluded ? eight.reason : "categories 1–9 all counted"),
      rep.avoided ? tile("Avoided (t CO2e)", tonnes(rep.avoided.total), "scope3-avoided", "reported separately, never netted") : null),
    ...notes,
    el("div", { id: "scope3-chart", class: "chart" }),
    table([
      ["#", (c) => c.number, "num"], ["Category", (c) => c.name], ["t CO2e", (c) => (c.excluded ? "–" : tonnes(c.emissions)), "num"],
      ["Primary t CO2e", (c) => (c.excluded ? "–" : tonnes(c.primary)), "num"],
      ["Primary share", (c) => {
        const e = Number(c.emissions.kg), p = Number(c.primary.kg);
        return e > 0 ? `${fmtFixed(String((100 * p) / e), 1)} %` : "–";
      }, "num"],
      ["Lines", (c) => fmt(c.lines), "num"],
      ["Excluded", (c) => c.excluded ?? ""],
    ], cats));
  plot("scope3-chart", {
    scales: { x: { time: false, range: [-0.5, cats.length - 0.5] } },
    axes: [{ incrs: [1, 2, 4], values: (_, ticks) => ticks.map((i) => (cats[i] ? `C${cats[i].number}` : "")) }, yAxis("t CO2e")],
    series: [
      { label: "category", value: (_, i) => (cats[i] ? `${cats[i].number} ${cats[i].name}` : "") },
      { label: "total", stroke: "#35618f", fill: "rgba(53,97,143,.35)", paths: uPlot.paths.bars({ size: [0.7, 60] }), value: (_, v) => (v == null ? "–" : fmtFixed(String(v), 3)) },
      { label: "primary", stroke: "#1b7f5a", fill: "rgba(27,127,90,.5)", paths: uPlot.paths.bars({ size: [0.35, 30] }), value: (_, v) => (v == null ? "–" : fmtFixed(String(v), 3)) },
    ],
  }, [cats.map((_, i) => i), cats.map((c) => Number(c.emissions.t)), cats.map((c) => Number(c.primary.t))]);
}

// === KPIs ===

/** A period as the engine writes it ("2025-01", "2025-Q1", "2025") as months [start, end). */
function months(period) {
  let m = /^(\d{4})-(\d{2})$/.exec(period);
  if (m) return [+m[1] * 12 + +m[2] - 1, +m[1] * 12 + +m[2]];
  m = /^(\d{4})-Q([1-4])$/.exec(period);
  if (m) return [+m[1] * 12 + (+m[2] - 1) * 3, +m[1] * 12 + +m[2] * 3];
  m = /^(\d{4})$/.exec(period);
  return m ? [+m[1] * 12, +m[1] * 12 + 12] : null;
}

const TRAJECTORY = { constant_rate: "constant rate", linear: "linear" };

/** "−50 % by 2030 vs 2020" for a reduction of 50, "+20 % …" for a growth target. */
function targetText(t) {
  const r = Number(t.reduction_pct);
  const change = r > 0 ? `−${fmtDec(t.reduction_pct)}` : `+${fmtDec(t.reduction_pct.replace(/^-/, ""))}`;
  return `${change} % by ${t.target_year} vs ${t.baseline_period}`;
}

/** The engine's yearly rate: a cut ("−6.70 %/yr") for a reduction, a rise ("+1.84 %/yr") for growth. */
function rateText(t) {
  if (t.annual_rate_pct == null) return "";
  const rise = t.annual_rate_pct.startsWith("-");
  const rate = `${rise ? "+" : "−"}${fmtDec(rise ? t.annual_rate_pct.slice(1) : t.annual_rate_pct)}`;
  return t.trajectory === "linear"
    ? `${rate} % of the baseline per year (linear)`
    : `${rate} %/yr (constant rate)`;
}

/** The lines a KPI chart draws, in legend order. */
const LINES = {
  actual: { label: "actual", cls: "actual" },
  trajectory: { label: "planned path", cls: "trajectory" },
  target: { label: "target", cls: "target" },
  baseline: { label: "baseline", cls: "baseline" },
};

/**
 * The frame of a small SVG chart over the months [x0, x1): the unit above the y axis, y labels
 * in compact notation sized to fit (measured in place, so the plot starts right of the widest),
 * grid lines, and the x labels `xLabels` ([{at: month, text}], most wanted first), each placed
 * only where it overlaps none placed before it. Returns the scales and the plot's edges.
 */
function chartFrame(root, { width, height, unit, ys, x0, x1, xLabels }) {
  const ticks = niceTicks(Math.min(...ys), Math.max(...ys), Math.max(2, Math.floor((height - 44) / 28)));
  const { digits, labels } = compactLabels(ticks);

  // Measure the labels in place, then lay out the plot around them.
  const text = (attrs, s) => root.appendChild(svg("text", attrs, s));
  const unitLabel = text({ class: "unit", x: 0, y: 11 }, unit);
  const yLabels = ticks.map((v, i) => text({ class: "y-label", "data-value": v, "text-anchor": "end" }, labels[i]));
  const left = Math.ceil(Math.max(...yLabels.map((l) => l.getComputedTextLength()))) + 8;
  const top = 22, bottom = height - 26, right = width - 6;
  const lo = ticks[0], hi = ticks[ticks.length - 1];
  const X = (m) => left + ((m - x0) / (x1 - x0)) * (right - left);
  const Y = (v) => bottom - ((Number(v) - lo) / (hi - lo)) * (bottom - top);
  const grid = svg("g", { class: "grid" });
  root.insertBefore(grid, unitLabel);
  const yAxisGroup = svg("g", { class: "y-axis", "data-digits": digits, "data-unit": unit });
  root.appendChild(yAxisGroup);
  ticks.forEach((v, i) => {
    grid.appendChild(svg("line", { x1: left, x2: right, y1: Y(v), y2: Y(v) }));
    yLabels[i].setAttribute("x", left - 5);
    yLabels[i].setAttribute("y", Y(v) + 4);
    yAxisGroup.appendChild(yLabels[i]);
  });

  const xAxisGroup = svg("g", { class: "x-axis" });
  root.appendChild(xAxisGroup);
  const placed = [];
  for (const { at, text: s } of xLabels) {
    const label = svg("text", { class: "x-label", "text-anchor": "middle", y: height - 5 }, s);
    xAxisGroup.appendChild(label);
    const w = label.getComputedTextLength();
    const mid = Math.min(Math.max(X(at), w / 2 + 1), width - w / 2 - 1);
    if (placed.some(([a, b]) => mid - w / 2 < b + 8 && mid + w / 2 > a - 8)) {
      label.remove();
      continue;
    }
    label.setAttribute("x", mid);
    placed.push([mid - w / 2, mid + w / 2]);
  }
  return { X, Y, left, right, top, bottom, text };
}

/**
 * A KPI's small chart: the series over time (gaps in the data stay gaps), the engine's
 * yearly planned path as steps, the target and baseline as lines, y labels in compact
 * notation sized to fit, a single period as a marker with its value.
 */
function drawKpiChart(host, k, width) {
  const height = 150;
  const pts = (k.series || []).map((p) => ({ ...p, span: months(String(p.period)) })).filter((p) => p.span);
  const t = k.target && k.target.not_available == null ? k.target : null;
  const root = svg("svg", { class: "kpi-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${k.title || k.name}, ${pts.length} periods` });
  host.replaceChildren(root);
  if (!pts.length) return [];
  const x0 = Math.min(...pts.map((p) => p.span[0]));
  const x1 = Math.max(...pts.map((p) => p.span[1]));
  // The path within the chart's months: one step per calendar year, held after the target year.
  const steps = [];
  if (t) {
    for (const [i, s] of t.path.entries()) {
      const from = Math.max(s.year * 12, x0);
      const to = i === t.path.length - 1 ? x1 : Math.min((s.year + 1) * 12, x1);
      if (to > from) steps.push({ from, to, value: s.value });
    }
  }
  const ys = pts.map((p) => Number(p.value));
  if (steps.length) ys.push(...steps.map((s) => Number(s.value)));
  if (t) ys.push(Number(t.baseline_value), Number(t.target_value));
  // x labels: the periods, as many as fit without overlapping, the last one always.
  const order = [pts.length - 1, ...pts.keys()].filter((i, n, all) => all.indexOf(i) === n);
  const { X, Y, left, right, top, text } = chartFrame(root, {
    width, height, unit: k.unit, ys, x0, x1,
    xLabels: order.map((i) => ({ at: (pts[i].span[0] + pts[i].span[1]) / 2, text: String(pts[i].period) })),
  });

  const drawn = [];
  const line = (name, d, attrs = {}) => {
    root.appendChild(svg("path", { class: `line ${LINES[name].cls}`, "data-series": name, d, ...attrs }));
    drawn.push(name);
  };
  if (t) {
    line("baseline", `M${left},${Y(t.baseline_value)}H${right}`, { "data-value": t.baseline_value });
    line("target", `M${left},${Y(t.target_value)}H${right}`, { "data-value": t.target_value });
  }
  if (steps.length) {
    line("trajectory", steps.map((s, i) => `${i ? "L" : "M"}${X(s.from)},${Y(s.value)}H${X(s.to)}`).join(""), { "data-points": steps.length });
  }
  // Actual values: a line through adjacent periods, broken where periods are missing.
  let d = "";
  pts.forEach((p, i) => {
    const joined = i > 0 && pts[i - 1].span[1] === p.span[0];
    d += `${joined ? "L" : "M"}${X((p.span[0] + p.span[1]) / 2)},${Y(p.value)}`;
  });
  line("actual", d, { "data-points": pts.length });
  for (const p of pts) {
    root.appendChild(svg("circle", {
      class: `marker${p.off_track ? " off" : ""}`, "data-series": "actual", "data-period": p.period,
      cx: X((p.span[0] + p.span[1]) / 2), cy: Y(p.value), r: pts.length === 1 ? 4.5 : 2.5,
    }));
  }
  if (pts.length === 1) {
    // One period: its value beside the marker, inside the plot.
    const p = pts[0];
    const label = text({ class: "point-label", "data-value": p.value }, `${fmtDec(p.value)} ${k.unit}`);
    const w = label.getComputedTextLength();
    const cx = X((p.span[0] + p.span[1]) / 2);
    const x = cx + 8 + w <= right ? cx + 8 : Math.max(left + 2, cx - 8 - w);
    const y = Y(p.value) - 8 >= top + 10 ? Y(p.value) - 8 : Y(p.value) + 16;
    label.setAttribute("x", x);
    label.setAttribute("y", y);
  }
  return drawn;
}

function kpiLegend(drawn, k) {
  const t = k.target;
  const text = {
    actual: "actual",
    trajectory: t ? `planned path ${rateText(t)}` : "",
    target: t ? `target ${t.target_year}: ${fmtDec(t.target_value)}` : "",
    baseline: t ? `baseline ${t.baseline_period}: ${fmtDec(t.baseline_value)}` : "",
  };
  return el("ul", { class: "legend" }, Object.keys(LINES).filter((n) => drawn.includes(n)).map((n) =>
    el("li", {}, el("span", { class: `swatch ${LINES[n].cls}` }), text[n])));
}

function kpiTile(k, section, plots) {
  const status = k.warning ? "warning" : k.off_track === true ? "off" : k.off_track === false ? "on" : "";
  const t = k.target;
  const id = `kpi-chart-${plots.length}`;
  const facts = [];
  if (t && t.not_available == null) {
    facts.push(el("div", { class: "sub target" }, `Target ${targetText(t)}`));
    if (k.trajectory_value != null) {
      facts.push(el("div", { class: "sub" },
        `${k.period}: planned ${fmtDec(k.trajectory_value)} ${k.unit}`,
        k.achievement_pct != null ? ` · achievement ${fmtPct(k.achievement_pct)} of the planned ${Number(t.reduction_pct) > 0 ? "reduction" : "change"}` : "",
        k.target_progress_pct != null ? ` · ${fmtPct(k.target_progress_pct)} of the way to the ${t.target_year} target` : ""));
    }
  } else if (t) {
    facts.push(el("div", { class: "sub warn" }, `Target ${targetText(t)}: ${t.not_available}`));
  }
  const extra = [
    k.change_vs_last_year_pct != null ? `${fmtPct(k.change_vs_last_year_pct)} vs a year earlier` : "",
    k.grade ? `grade ${k.grade}` : "",
  ].filter(Boolean).join(" · ");
  const tileNode = el("div", { class: `tile kpi kpi-${status}`, "data-kpi": k.name },
    el("div", { class: "label" }, k.title || k.name),
    section.note ? el("div", { class: "badge" }, "never netted") : null,
    el("div", { class: "value", "data-kpi-value": k.name },
      k.value != null ? `${fmtDec(k.value)} ${k.unit}` : "n/a",
      el("span", { class: "period" }, ` ${k.period}`)),
    k.value == null && k.not_available ? el("div", { class: "sub" }, k.not_available) : null,
    status || extra
      ? el("div", { class: "sub" },
          status ? el("span", { class: `status-${status}` }, { on: "on track", off: "off track", warning: "early warning" }[status]) : null,
          status && extra ? " · " : "", extra)
      : null,
    el("div", { id, class: "chart small" }),
    el("div", { class: "legend-host" }),
    ...facts,
    k.warning ? el("div", { class: "sub warn" }, k.warning) : null);
  plots.push([id, k]);
  return tileNode;
}

async function loadKpi() {
  const r = await api("api/kpi");
  if (notConfigured("kpi-body", r, "KPIs")) return;
  const rep = r.report;
  const body = [el("p", { class: "note" }, `${rep.title} · period ${rep.period}`)];
  const plots = [];
  for (const s of rep.sections) {
    body.push(el("h3", {}, s.name));
    if (s.note) body.push(el("p", { class: "note avoided-note", "data-section-note": s.name }, el("strong", {}, "Never netted. "), `${s.note[0].toUpperCase()}${s.note.slice(1)}.`));
    body.push(el("div", { class: "tiles kpi-tiles" }, s.kpis.map((k) => kpiTile(k, s, plots))));
  }
  replace("kpi-body", ...body);
  for (const [id, k] of plots) {
    const host = $(id);
    const legend = host.nextElementSibling;
    if (!(k.series || []).length) {
      host.remove();
      continue;
    }
    onWidth(id, host, (width) => legend.replaceChildren(kpiLegend(drawKpiChart(host, k, width), k)));
  }
}

// === monitoring: executive, operational and field views (GET /api/monitor) ===

/** A change as the engine wrote it, signed ("+3.10 %", "−12.50 %"), in the user's locale. */
function fmtChange(s) {
  if (s === null || s === undefined) return "–";
  const d = scaleOf(s);
  return `${numberFormat({ minimumFractionDigits: d, maximumFractionDigits: d, signDisplay: "exceptZero" }).format(String(s))} %`;
}

/** A probability in [0, 1] (three decimals from the engine) as a percentage with one decimal. */
function fmtProbability(p) {
  return `${numberFormat({ minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(Math.round(p * 1000) / 10)} %`;
}

/** "2024-12" → "2023-12": the month a change against last year compares with. */
function yearBefore(month) {
  const m = /^(\d{4})-(\d{2})$/.exec(month || "");
  return m ? `${+m[1] - 1}-${m[2]}` : "a year before";
}

const STATUS = { on_track: "on track", off_track: "off track", warning: "early warning", no_target: "no target" };
const SEVERITY = { critical: "critical", warning: "warning", info: "info" };
const PHASE = { plan: "Plan", do: "Do", check: "Check", act: "Act", done: "Done" };
const INCENTIVE = { earned: "incentive earned", not_earned: "incentive not earned", not_available: "incentive n/a" };

/** What a monitoring chart draws, in legend order. */
const MONITOR_LINES = ["actual", "trajectory", "forecast", "band"];

/**
 * A KPI's monthly chart on the monitoring views: the series, the trajectory to the target
 * year (dashed), and the forecast (dotted, from the last month) inside its interval band;
 * years on the x axis, the described month as a marker. Returns what it drew.
 */
function drawMonitorChart(host, k, width, height) {
  const at = (p) => {
    const span = months(String(p.period));
    return span && { ...p, m: span[0] };
  };
  const pts = (k.series || []).map(at).filter(Boolean);
  const path = (k.trajectory || []).map(at).filter(Boolean);
  const f = k.forecast;
  const fc = f && f.not_available == null ? (f.points || []).map(at).filter(Boolean) : [];
  const root = svg("svg", { class: "kpi-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${k.title || k.name}, ${pts.length} months` });
  host.replaceChildren(root);
  const all = [...pts, ...path, ...fc];
  if (!all.length) return [];
  const x0 = Math.min(...all.map((p) => p.m));
  const x1 = Math.max(...all.map((p) => p.m)) + 1;
  const ys = [...pts, ...path].map((p) => Number(p.value))
    .concat(fc.flatMap((p) => [Number(p.low), Number(p.high), Number(p.value)]))
    .filter(Number.isFinite);
  if (!ys.length) return [];
  // x labels: the years, centred on their months; the last year with data first, then the
  // first and the last year drawn.
  const years = [];
  for (let y = Math.floor(x0 / 12); y * 12 < x1; y++) years.push(y);
  const latest = pts.length ? Math.floor(pts[pts.length - 1].m / 12) : years[years.length - 1];
  const order = [latest, years[0], years[years.length - 1], ...years].filter((y, n, list) => list.indexOf(y) === n);
  const { X, Y } = chartFrame(root, {
    width, height, unit: k.unit, ys, x0, x1,
    xLabels: order.map((y) => ({ at: (Math.max(y * 12, x0) + Math.min(y * 12 + 12, x1)) / 2, text: String(y) })),
  });
  const mid = (p) => X(p.m + 0.5);
  const drawn = [];
  const line = (name, d, attrs) => {
    root.appendChild(svg("path", { class: `line ${name}`, "data-series": name, d, ...attrs }));
    drawn.push(name);
  };
  // Consecutive months joined, gaps left open.
  const through = (list, value = (p) => p.value) => list.map((p, i) =>
    `${i > 0 && list[i - 1].m + 1 === p.m ? "L" : "M"}${mid(p)},${Y(value(p))}`).join("");
  if (fc.length) {
    const upper = fc.map((p, i) => `${i ? "L" : "M"}${mid(p)},${Y(p.high)}`).join("");
    const lower = [...fc].reverse().map((p) => `L${mid(p)},${Y(p.low)}`).join("");
    line("band", `${upper}${lower}Z`, { "data-points": fc.length });
  }
  if (path.length) line("trajectory", through(path), { "data-points": path.length });
  if (pts.length) line("actual", through(pts), { "data-points": pts.length });
  if (fc.length) {
    const last = pts[pts.length - 1];
    const from = last && last.m + 1 === fc[0].m ? [last] : [];
    line("forecast", through([...from, ...fc]), { "data-points": fc.length });
  }
  const last = pts[pts.length - 1];
  if (last) {
    root.appendChild(svg("circle", {
      class: `marker${k.status === "off_track" ? " off" : ""}`, "data-series": "actual", "data-period": last.period,
      cx: mid(last), cy: Y(last.value), r: 3,
    }));
  }
  return drawn;
}

function monitorLegend(drawn, k) {
  const f = k.forecast;
  const text = {
    actual: "actual",
    trajectory: f && f.target_year ? `trajectory to the ${f.target_year} target` : "trajectory",
    forecast: "forecast",
    band: f && f.interval_pct != null ? `${f.interval_pct} % interval` : "interval",
  };
  return el("ul", { class: "legend" }, MONITOR_LINES.filter((n) => drawn.includes(n)).map((n) =>
    el("li", {}, el("span", { class: `swatch ${n}` }), text[n])));
}

/** Draws each [id, kpi, height, legend?] into its host, redrawn on a width change. */
function drawMonitorCharts(plots) {
  for (const [id, k, height, legend] of plots) {
    const host = $(id);
    if (!host) continue;
    onWidth(id, host, (width) => {
      const drawn = drawMonitorChart(host, k, width, height);
      if (legend) host.nextElementSibling.replaceChildren(monitorLegend(drawn, k));
    });
  }
}

/** The user's month, kept while moving between the three views. */
let monitorMonth = "";

/** The month picker of a monitoring view: the months with data, the described one chosen. */
function monthPicker(id, view, rep) {
  const months = rep.months.includes(rep.month) ? rep.months : [...rep.months, rep.month].sort();
  const select = el("select", {
    id,
    disabled: !months.length,
    onchange: (e) => {
      monitorMonth = e.target.value;
      location.hash = `${view}?month=${encodeURIComponent(e.target.value)}`;
    },
  }, months.map((m) => el("option", { value: m, selected: m === rep.month }, m)));
  return el("form", { class: "controls", onsubmit: (e) => e.preventDefault() },
    el("label", {}, "Month ", select),
    el("span", { class: "muted" }, `${rep.title} · ${rep.framework}`));
}

/**
 * The KPI departments and teams are ranked by (their `total` is its value): named in
 * `ranked_by` ("change_vs_last_year_pct of total_emissions"), total_emissions otherwise.
 */
function rankingKpi(rep) {
  const ranked = rep.operational.departments.find((d) => d.ranked_by);
  return ranked ? ranked.ranked_by.split(" of ").pop() : "total_emissions";
}

/** The unit of the ranking KPI, which departments' and teams' totals are in. */
function totalUnit(rep) {
  const name = rankingKpi(rep);
  const own = (list) => (list || []).find((k) => k.name === name);
  const k = own(rep.executive.kpis) || rep.operational.departments.map((d) => own(d.kpis)).find(Boolean);
  return k ? k.unit : "";
}

function execCard(k, month, plots) {
  const f = k.forecast;
  const id = `exec-chart-${plots.length}`;
  const change = k.change_vs_last_year_pct != null ? `${fmtChange(k.change_vs_last_year_pct)} vs ${yearBefore(month)}` : "";
  const facts = [
    el("div", { class: "sub" },
      el("span", { class: `status status-${k.status}` }, STATUS[k.status] || k.status),
      change ? ` · ${change}` : ""),
  ];
  if (k.target_value != null) {
    facts.push(el("div", { class: "sub target" },
      `Planned for ${month}: ${fmtDec(k.target_value)} ${k.unit}`,
      k.achievement_pct != null ? ` · achievement ${fmtPct(k.achievement_pct)}` : ""));
  }
  const forecast = [];
  if (f && f.not_available == null) {
    if (f.probability_of_target != null) {
      forecast.push(el("div", { class: "probability", "data-probability": f.probability_of_target },
        `Probability of meeting the ${f.target_year} target `, el("strong", {}, fmtProbability(f.probability_of_target))));
    } else if (f.target_year == null) {
      forecast.push(el("div", { class: "sub" }, "No target year: no probability"));
    }
    if (f.early_warning) forecast.push(el("div", { class: "sub warn early-warning" }, "Early warning: ", f.warning || "the forecast leaves the trajectory"));
    if (f.method) forecast.push(el("div", { class: "sub method" }, `Forecast: ${f.method}; ${f.interval_pct} % interval`));
  } else if (f) {
    forecast.push(el("div", { class: "sub" }, `Forecast not available: ${f.not_available}`));
  }
  plots.push([id, k, 170, true]);
  return el("div", { class: `tile kpi kpi-card ${k.status}`, "data-kpi": k.name },
    el("div", { class: "label" }, k.title || k.name),
    el("div", { class: "value", "data-kpi-value": k.name },
      k.value != null ? `${fmtDec(k.value)} ${k.unit}` : "n/a",
      el("span", { class: "period" }, ` ${month}`)),
    k.value == null && k.not_available ? el("div", { class: "sub" }, k.not_available) : null,
    ...facts,
    el("div", { id, class: "chart small" }),
    el("div", { class: "legend-host" }),
    ...forecast);
}

function renderExecutive(rep) {
  const plots = [];
  const kpis = rep.executive.kpis;
  const alarms = rep.executive.alarms;
  replace("executive-body",
    monthPicker("exec-month", "executive", rep),
    el("div", { id: "exec-kpis", class: "tiles kpi-tiles" },
      kpis.length ? kpis.map((k) => execCard(k, rep.month, plots)) : el("p", { class: "note" }, "The configuration names no core KPIs.")),
    el("h2", {}, `Alarms, ${rep.month}`),
    el("div", { id: "exec-alarms" },
      alarms.length
        ? el("ul", { class: "alarms" }, alarms.map((a) =>
            el("li", { class: `alarm alarm-${a.severity}`, "data-severity": a.severity, "data-kpi-alarm": a.kpi },
              el("span", { class: "severity" }, SEVERITY[a.severity] || a.severity),
              // The department, unless the message already starts with it.
              a.department && !a.message.startsWith(a.department) ? el("span", { class: "where" }, a.department) : null,
              el("span", { class: "message" }, a.message))))
        : el("p", { class: "note" }, `No alarms for ${rep.month}.`)));
  drawMonitorCharts(plots);
}

/** A progress bar for a percentage (the bar stops at 100; the figure says the rest). */
function progressBar(pct) {
  if (pct == null) return "–";
  const n = Math.min(100, Math.max(0, Number(pct)));
  const bar = el("span", { class: "bar" });
  bar.style.width = `${n}%`;
  return el("span", { class: "progress-cell" },
    el("span", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": n }, bar),
    ` ${fmtPct(pct)}`);
}

function renderOperational(rep) {
  const unit = totalUnit(rep);
  const ops = rep.operational;
  const titles = new Map(rep.executive.kpis.map((k) => [k.name, k.title || k.name]));
  const kpiTitle = (name) => titles.get(name) || name;
  const ranking = rankingKpi(rep);
  const deptKpi = (d) => d.kpis.find((k) => k.name === ranking) || d.kpis[0];
  const plots = [];
  const cards = ops.departments.map((d, i) => {
    const k = deptKpi(d);
    const id = `ops-chart-${i}`;
    if (k) plots.push([id, { ...k, status: d.needs_improvement ? "off_track" : k.status }, 110, false]);
    return el("div", { class: `tile department${d.needs_improvement ? " needs-improvement" : ""}`, "data-chart": `department:${d.name}` },
      el("div", { class: "label" }, d.rank != null ? `#${fmt(d.rank)} · ${d.name}` : d.name),
      el("div", { class: "value" }, d.total != null ? `${fmtDec(d.total)} ${unit}` : "n/a"),
      el("div", { class: "sub" },
        d.change_vs_last_year_pct != null ? `${fmtChange(d.change_vs_last_year_pct)} vs ${yearBefore(rep.month)}` : "no value a year before",
        d.needs_improvement ? el("span", { class: "badge" }, "needs improvement") : null),
      k ? el("div", { id, class: "chart small" }) : null);
  });
  const plans = ops.action_plans;
  replace("operational-body",
    monthPicker("ops-month", "operational", rep),
    el("h2", {}, `Department ranking, ${rep.month}`),
    ops.departments[0]
      ? el("p", { class: "note" }, "Ranked by ", el("code", {}, ops.departments[0].ranked_by), "; a department with no value a year before is not ranked.")
      : null,
    el("div", { id: "ops-ranking" }, table([
      ["Rank", (d) => (d.rank != null ? fmt(d.rank) : "–"), "num"],
      ["Department", (d) => d.name],
      [`Total (${unit})`, (d) => fmtDec(d.total), "num"],
      [`vs ${yearBefore(rep.month)}`, (d) => fmtChange(d.change_vs_last_year_pct), "num"],
      ["KPIs on track", (d) => {
        const judged = d.kpis.filter((k) => k.status !== "no_target");
        return judged.length ? `${fmt(judged.filter((k) => k.status === "on_track").length)} of ${fmt(judged.length)}` : "–";
      }, "num"],
      ["Needs improvement", (d) => (d.needs_improvement ? el("span", { class: "status-off_track" }, "yes") : "no")],
      ["Teams", (d) => d.teams.join(", ")],
    ], ops.departments, "no departments")),
    el("h2", {}, "Trends by department"),
    el("div", { id: "ops-departments", class: "tiles" }, cards),
    el("h2", {}, "Areas needing improvement"),
    el("div", { id: "ops-improvement" },
      ops.improvement_areas.length
        ? el("ul", { class: "alarms" }, ops.improvement_areas.map((a) =>
            el("li", { class: "alarm alarm-warning", "data-department": a.department },
              el("span", { class: "where" }, a.department),
              el("span", { class: "message" }, `${a.title || kpiTitle(a.kpi)}: ${a.reason}`))))
        : el("p", { class: "note" }, "No area needs improvement this month.")),
    el("h2", {}, "Action plans (PDCA)"),
    el("div", { id: "ops-plans" }, table([
      ["Id", (p) => el("code", {}, p.id)],
      ["Plan", (p) => p.title],
      ["Where", (p) => (p.team ? `${p.department} / ${p.team}` : p.department)],
      ["KPI", (p) => kpiTitle(p.kpi)],
      ["Owner", (p) => p.owner],
      ["Phase", (p) => el("span", { class: `phase phase-${p.phase}` }, PHASE[p.phase] || p.phase)],
      ["Start – due", (p) => el("span", { class: p.overdue ? "overdue" : "" }, `${p.start} – ${p.due}`, p.overdue ? el("strong", {}, " overdue") : null)],
      ["Expected", (p) => `${fmtDec(p.expected_reduction)} ${p.unit}`, "num"],
      ["Measured", (p) => (p.measured_reduction != null ? `${fmtDec(p.measured_reduction)} ${p.unit}` : "–"), "num"],
      ["Progress", (p) => progressBar(p.progress_pct), "num"],
      ["Months", (p) => fmt(p.months_measured), "num"],
    ], plans, "no action plans")));
  drawMonitorCharts(plots);
}

function renderField(rep) {
  const unit = totalUnit(rep);
  const groups = new Map();
  for (const t of rep.field.teams) {
    if (!groups.has(t.department)) groups.set(t.department, []);
    groups.get(t.department).push(t);
  }
  const card = (t) => el("div", { class: `tile team-card${t.best_practice ? " best" : ""}`, "data-team": `${t.department}/${t.name}` },
    el("div", { class: "label" }, t.name),
    el("div", { class: "value" }, t.total != null ? `${fmtDec(t.total)} ${unit}` : "n/a"),
    el("div", { class: "sub" },
      t.change_vs_last_year_pct != null ? `${fmtChange(t.change_vs_last_year_pct)} vs ${yearBefore(rep.month)}` : "no value a year before",
      t.rank_in_department != null ? ` · ${fmt(t.rank_in_department)} of ${fmt(t.teams_in_department)} in the department` : ""),
    el("div", { class: "badges" },
      t.best_practice ? el("span", { class: "badge best-practice" }, "best practice") : null,
      el("span", { class: `badge incentive incentive-${t.incentive}` }, INCENTIVE[t.incentive] || t.incentive)),
    el("div", { class: "sub feedback" }, t.feedback));
  replace("field-body",
    monthPicker("field-month", "field", rep),
    el("div", { id: "field-teams" },
      groups.size
        ? [...groups].map(([department, teams]) => el("div", { class: "team-group", "data-department": department },
            el("h3", {}, department),
            el("div", { class: "tiles" }, teams.map(card))))
        : el("p", { class: "note" }, "No teams.")));
}

const MONITOR_VIEWS = { executive: renderExecutive, operational: renderOperational, field: renderField };

/** Loads `GET /api/monitor` for the month in the address (or the one picked before) and renders `view`. */
async function loadMonitor(view) {
  delete document.body.dataset.monitorReady;
  const month = new URLSearchParams(current().query).get("month") || monitorMonth;
  const body = `${view}-body`;
  const done = () => {
    // Time from navigation start to the visible monitoring view drawn (read by the benchmark).
    document.body.dataset.monitorReadyMs = String(Math.round(performance.now()));
    document.body.dataset.monitorReady = "1";
  };
  let r;
  try {
    r = await api(`api/monitor${month ? `?month=${encodeURIComponent(month)}` : ""}`);
  } catch (e) {
    if (e.message === "logged out") throw e;
    replace(body, el("p", { class: "note chain-broken" }, `Monitoring: ${e.message}`));
    done();
    return;
  }
  if (!notConfigured(body, r, "Monitoring")) {
    monitorMonth = r.report.month;
    MONITOR_VIEWS[view](r.report);
  }
  done();
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
  executive: () => loadMonitor("executive"),
  operational: () => loadMonitor("operational"),
  field: () => loadMonitor("field"),
};

/** The view named in the address, and its options (`#scope3?year=2025`). */
function current() {
  const [view, query = ""] = location.hash.slice(1).split("?");
  return view in loaders ? { view, query } : { view: "overview", query: "" };
}

function show() {
  const { view } = current();
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== view;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.getAttribute("href") === `#${view}`);
  loaders[view]().then(() => {
    document.body.dataset.view = view;
  }).catch(report);
}

function report(e) {
  if (e.message !== "logged out") console.error(e);
}

async function start() {
  me = await api("api/me");
  $("user").textContent = `${me.user} (${me.role})`;
  window.addEventListener("hashchange", show);
  // The visible view loads beside the overview tiles, not after them.
  show();
  await refreshOverview();
  setInterval(() => refreshOverview().catch(report), POLL_MS);
}

start().catch(report);
