// Measures the dashboard's visible view (tests/it/dashboard.rs evaluates this in the page over
// the DevTools protocol) and returns what it found: layout problems, and the text, lines and
// labels of every chart (keyed by its tile's data-kpi or data-chart), for the test to compare
// with the API.
(() => {
  const viewport = document.documentElement.clientWidth;
  const problems = [];
  const rect = (e) => e.getBoundingClientRect();
  const inside = (a, b) =>
    a.left >= b.left - 0.5 && a.right <= b.right + 0.5 && a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
  const name = (e) => {
    let n = e.tagName.toLowerCase();
    if (e.id) n += `#${e.id}`;
    const c = e.getAttribute("class");
    if (c) n += `.${c.trim().split(/\s+/).join(".")}`;
    const owner = e.closest("[data-kpi], [data-chart]");
    return owner ? `${n} (${owner.dataset.kpi ? `KPI ${owner.dataset.kpi}` : owner.dataset.chart})` : n;
  };
  const at = (b) => `x ${Math.round(b.left)}..${Math.round(b.right)}, y ${Math.round(b.top)}..${Math.round(b.bottom)}`;

  const page = document.documentElement.scrollWidth;
  if (page > viewport) problems.push(`the page is ${page} px wide in a ${viewport} px viewport`);
  const view = document.querySelector(".view:not([hidden])");
  // Every tile and chart box: inside the viewport, and everything in it inside it.
  const boxes = [...view.querySelectorAll(".tile, .chart")];
  for (const box of boxes) {
    const b = rect(box);
    if (b.left < 0 || b.right > viewport) problems.push(`${name(box)} at ${at(b)} leaves the ${viewport} px viewport`);
    if (box.scrollWidth > box.clientWidth + 1) problems.push(`${name(box)}: content ${box.scrollWidth} px wide in ${box.clientWidth} px`);
    for (const d of box.querySelectorAll("*")) {
      const db = rect(d);
      if (db.width === 0 && db.height === 0) continue;
      if (!inside(db, b)) problems.push(`${name(d)} at ${at(db)} sticks out of ${name(box)} at ${at(b)}`);
    }
  }
  // Every KPI chart: each label whole inside the chart, y labels exactly the compact format
  // of their value at the axis' declared decimals.
  const charts = {};
  for (const chart of view.querySelectorAll("svg.kpi-svg")) {
    const cb = rect(chart);
    const axis = chart.querySelector(".y-axis");
    const digits = Number(axis.dataset.digits);
    const compact = new Intl.NumberFormat(undefined, {
      notation: "compact", minimumFractionDigits: digits, maximumFractionDigits: digits,
    });
    const labels = [...chart.querySelectorAll("text")].map((l) => {
      const lb = rect(l);
      if (lb.width === 0) problems.push(`label "${l.textContent}" (${name(l)}) is not drawn`);
      if (!inside(lb, cb)) problems.push(`label "${l.textContent}" (${name(l)}) at ${at(lb)} is cut by its chart at ${at(cb)}`);
      const cls = l.getAttribute("class");
      if (cls === "y-label") {
        const want = compact.format(Number(l.dataset.value));
        if (l.textContent !== want) problems.push(`y label "${l.textContent}" of ${l.dataset.value} should read "${want}" (${name(l)})`);
      }
      return { class: cls, text: l.textContent, value: l.dataset.value ?? null };
    });
    const lines = {};
    for (const p of chart.querySelectorAll("path[data-series]")) {
      const pb = rect(p);
      if (!inside(pb, cb)) problems.push(`line ${p.dataset.series} (${name(p)}) at ${at(pb)} leaves its chart at ${at(cb)}`);
      lines[p.dataset.series] = {
        value: p.dataset.value ?? null,
        points: p.dataset.points ? Number(p.dataset.points) : null,
        length: p.getTotalLength(),
        drawn: getComputedStyle(p).stroke !== "none" && getComputedStyle(p).visibility === "visible",
      };
    }
    const owner = chart.closest("[data-kpi], [data-chart]");
    charts[owner.dataset.kpi ?? owner.dataset.chart] = { width: cb.width, labels, lines, markers: chart.querySelectorAll("circle").length };
  }
  const text = (nodes, key) => Object.fromEntries([...nodes].map((n) => [n.dataset[key], n.innerText.trim()]));
  const select = view.querySelector("#scope3-year");
  return {
    viewport,
    problems,
    boxes: boxes.length,
    charts,
    kpi_values: Object.fromEntries([...view.querySelectorAll("[data-kpi-value]")].map((v) => [v.dataset.kpiValue, v.firstChild.textContent])),
    kpi_tiles: text(view.querySelectorAll("[data-kpi]"), "kpi"),
    tiles: text(view.querySelectorAll("[data-tile]"), "tile"),
    notes: [...view.querySelectorAll("[data-section-note]")].map((n) => n.innerText.trim()),
    scope3: select ? {
      years: [...select.options].map((o) => o.value),
      year: select.value,
      exclude_8: view.querySelector("#scope3-exclude-8").checked,
    } : null,
  };
})()
