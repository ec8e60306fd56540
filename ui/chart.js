// The per-day outcome chart of a job page: one stacked bar per UTC day
// (successes, failures of every kind, cancellations), drawn as SVG from
// the `days` buckets of GET /api/v1/stats?job=…, with a <title> per bar
// so each day's counts can be read by hovering or a screen reader. The
// bars stretch with the page, so the dates and the scale are written
// beside the chart in HTML rather than inside it.

const SVG = "http://www.w3.org/2000/svg";
const FAILURES = ["failed", "timeout", "error", "lost"];

function node(name, attrs = {}, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** An <svg> for `days` ([{date, runs: {success, failed, …}}], oldest
 * first). */
export function outcomeChart(days) {
  const width = 600;
  const height = 140;
  const top = 4;
  const bottom = 0;
  const plot = height - top - bottom;
  const counts = days.map((d) => {
    const r = d.runs;
    return {
      date: d.date,
      success: r.success,
      failure: FAILURES.reduce((n, k) => n + r[k], 0),
      cancelled: r.cancelled,
    };
  });
  const max = Math.max(1, ...counts.map((c) => c.success + c.failure + c.cancelled));
  const slot = width / Math.max(1, counts.length);
  const bar = Math.max(1, slot * 0.8);
  const svg = node("svg", {
    viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": `Runs per day over ${days.length} days, at most ${max} a day`,
  });
  counts.forEach((c, i) => {
    const g = node("g");
    g.append(
      node("title", {}, `${c.date}: ${c.success} succeeded, ${c.failure} failed, ${c.cancelled} cancelled`),
    );
    let y = top + plot;
    for (const kind of ["success", "failure", "cancelled"]) {
      const h = (c[kind] / max) * plot;
      if (h <= 0) continue;
      y -= h;
      g.append(node("rect", { class: `bar-${kind}`, x: i * slot + (slot - bar) / 2, y, width: bar, height: h }));
    }
    svg.append(g);
  });
  return svg;
}
