// Measures the visible monitoring view (executive, operational or field; tests/it/monitor.rs
// evaluates this in the page after dashboard_layout.js) and returns what it found: elements
// that leave the viewport sideways (outside the tables, which scroll in their own box), cards
// that overlap, charts outside their card, and what the page shows, for the test to compare
// with the API.
(() => {
  const viewport = document.documentElement.clientWidth;
  const problems = [];
  const view = document.querySelector(".view:not([hidden])");
  const rect = (e) => e.getBoundingClientRect();
  const name = (e) => {
    let n = e.tagName.toLowerCase();
    if (e.id) n += `#${e.id}`;
    const c = e.getAttribute("class");
    if (c) n += `.${c.trim().split(/\s+/).join(".")}`;
    return n;
  };
  const at = (b) => `x ${Math.round(b.left)}..${Math.round(b.right)}, y ${Math.round(b.top)}..${Math.round(b.bottom)}`;

  // Nothing leaves the viewport sideways; a table may be wider than the screen only inside
  // its scrolling box, which itself fits.
  for (const e of view.querySelectorAll("*")) {
    const wrap = e.closest(".table-wrap");
    if (wrap && wrap !== e) continue;
    const b = rect(e);
    if (b.width === 0 && b.height === 0) continue;
    if (b.left < -0.5 || b.right > viewport + 0.5) problems.push(`${name(e)} at ${at(b)} leaves the ${viewport} px viewport`);
  }
  // Cards do not overlap one another, and each chart lies inside its card.
  const cards = [...view.querySelectorAll(".kpi-card, .tile.department, .team-card")];
  const boxes = cards.map(rect);
  for (let i = 0; i < cards.length; i++) {
    for (let j = i + 1; j < cards.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) {
        problems.push(`${name(cards[i])} at ${at(a)} overlaps ${name(cards[j])} at ${at(b)}`);
      }
    }
  }
  for (const chart of view.querySelectorAll("svg.kpi-svg")) {
    const card = chart.closest(".tile");
    const c = rect(chart), b = card ? rect(card) : null;
    if (!b || c.left < b.left - 0.5 || c.right > b.right + 0.5 || c.top < b.top - 0.5 || c.bottom > b.bottom + 0.5) {
      problems.push(`chart ${name(chart)} at ${at(c)} is not inside its card${b ? ` at ${at(b)}` : ""}`);
    }
  }

  const rows = (id) => [...view.querySelectorAll(`#${id} tbody tr`)].filter((r) => !r.querySelector("td.empty"));
  const select = view.querySelector("select[id$='-month']");
  return {
    viewport,
    problems,
    ready: document.body.dataset.monitorReady === "1",
    month: select ? select.value : null,
    months: select ? select.options.length : 0,
    kpi_cards: [...view.querySelectorAll("#exec-kpis .kpi-card")].map((c) => ({
      kpi: c.dataset.kpi,
      status: ["on_track", "off_track", "warning", "no_target"].filter((s) => c.classList.contains(s)),
      value: c.querySelector("[data-kpi-value]").firstChild.textContent,
      probability: c.querySelector("[data-probability]")?.dataset.probability ?? null,
      early_warning: c.querySelector(".early-warning")?.innerText ?? null,
      series: [...c.querySelectorAll("svg.kpi-svg path[data-series]")].map((p) => p.dataset.series),
      text: c.innerText,
    })),
    alarms: [...view.querySelectorAll("#exec-alarms .alarm")].map((a) => ({ severity: a.dataset.severity, text: a.innerText })),
    ranking: rows("ops-ranking").map((r) => [...r.cells].map((c) => c.innerText.trim())),
    department_charts: view.querySelectorAll("#ops-departments .tile.department svg.kpi-svg").length,
    improvement: view.querySelectorAll("#ops-improvement li").length,
    plans: rows("ops-plans").map((r) => [...r.cells].map((c) => c.innerText.trim())),
    progress_bars: view.querySelectorAll("#ops-plans .progress").length,
    team_groups: [...view.querySelectorAll("#field-teams .team-group")].map((g) => g.dataset.department),
    teams: [...view.querySelectorAll("#field-teams .team-card")].map((c) => ({ team: c.dataset.team, text: c.innerText })),
  };
})()
