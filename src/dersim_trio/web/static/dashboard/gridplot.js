// Small x-y plots of the grid-support curves (volt-var, watt-var, volt-watt, frequency droop,
// the P-Q plane) with the live operating point.
//
// Drawn as SVG by hand rather than with uPlot (which draws the time series): these are
// polylines of 2 to 6 points, some closed (the VA circle), on axes that do not start at a time
// origin, with one marker that moves every tick. uPlot wants ascending x for every series and a
// canvas redraw for the marker; an SVG of a dozen elements is redrawn whole each tick for less,
// scales with its card on any screen width, and its marker is an element the page (and its
// tests) can read back.

const NS = "http://www.w3.org/2000/svg";
const PAD = { left: 46, right: 10, top: 10, bottom: 34 };

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

/** About five round tick values covering [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

function fmtTick(v) {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toFixed(Math.abs(v) < 1 ? 2 : 1);
}

/**
 * Draw one plot into `box` (replacing what was there).
 * spec: { x: [lo, hi], y: [lo, hi], xLabel, yLabel, lines: [{ pts: [[x, y], ...], cls }],
 *         op: { x, y } | null, refs: [{ x } | { y }] (thin reference lines), height,
 *         equal (the same scale on both axes: x is widened to the plot's shape) }
 * Returns the marker's position in CSS pixels of the box (null when none is drawn), also kept
 * in `box.dataset.op` as "x,y" for tests.
 */
export function drawPlot(box, spec) {
  const width = Math.max(220, Math.round(box.clientWidth || 320));
  const height = spec.height || 210;
  const pw = width - PAD.left - PAD.right;
  const ph = height - PAD.top - PAD.bottom;
  let [x0, x1] = spec.x;
  const [y0, y1] = spec.y;
  if (spec.equal) {
    // One unit is as long on both axes (a circle stays round): widen x to the plot's shape.
    const half = (((y1 - y0) * pw) / ph / 2);
    const mid = (x0 + x1) / 2;
    if (half > (x1 - x0) / 2) [x0, x1] = [mid - half, mid + half];
  }
  const sx = (x) => PAD.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y) => PAD.top + (1 - (y - y0) / (y1 - y0)) * ph;
  const svg = svgEl("svg", {
    width, height, viewBox: `0 0 ${width} ${height}`, class: "gplot", role: "img",
    "aria-label": spec.ariaLabel || `${spec.yLabel} over ${spec.xLabel}`,
  });
  const grid = svgEl("g", { class: "gplot-grid" });
  for (const t of ticks(x0, x1)) {
    grid.append(svgEl("line", { x1: sx(t), x2: sx(t), y1: PAD.top, y2: PAD.top + ph }));
    svg.append(svgEl("text", { x: sx(t), y: PAD.top + ph + 14, class: "gplot-tick", "text-anchor": "middle" }, fmtTick(t)));
  }
  for (const t of ticks(y0, y1)) {
    grid.append(svgEl("line", { x1: PAD.left, x2: PAD.left + pw, y1: sy(t), y2: sy(t) }));
    svg.append(svgEl("text", { x: PAD.left - 5, y: sy(t) + 4, class: "gplot-tick", "text-anchor": "end" }, fmtTick(t)));
  }
  svg.prepend(grid);
  svg.append(svgEl("rect", { x: PAD.left, y: PAD.top, width: pw, height: ph, class: "gplot-frame" }));
  for (const r of spec.refs || []) {
    if (r.x != null && r.x > x0 && r.x < x1) {
      svg.append(svgEl("line", { x1: sx(r.x), x2: sx(r.x), y1: PAD.top, y2: PAD.top + ph, class: "gplot-ref" }));
    }
    if (r.y != null && r.y > y0 && r.y < y1) {
      svg.append(svgEl("line", { x1: PAD.left, x2: PAD.left + pw, y1: sy(r.y), y2: sy(r.y), class: "gplot-ref" }));
    }
  }
  const clipId = `clip-${box.id || Math.random().toString(36).slice(2)}`;
  const defs = svgEl("defs");
  const clip = svgEl("clipPath", { id: clipId });
  clip.append(svgEl("rect", { x: PAD.left, y: PAD.top, width: pw, height: ph }));
  defs.append(clip);
  svg.append(defs);
  const plot = svgEl("g", { "clip-path": `url(#${clipId})` });
  for (const line of spec.lines || []) {
    if (!line.pts.length) continue;
    const d = line.pts.map(([x, y], k) => `${k ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
    plot.append(svgEl("path", { d, class: `gplot-line ${line.cls || ""}` }));
  }
  svg.append(plot);
  let op = null;
  if (spec.op && Number.isFinite(spec.op.x) && Number.isFinite(spec.op.y)) {
    // Held inside the plot area so the marker stays visible when the grid is off the axes.
    const cx = Math.min(PAD.left + pw, Math.max(PAD.left, sx(spec.op.x)));
    const cy = Math.min(PAD.top + ph, Math.max(PAD.top, sy(spec.op.y)));
    svg.append(svgEl("circle", { cx, cy, r: 6, class: "gplot-op" }));
    op = { x: cx, y: cy, plot: [PAD.left, PAD.top, PAD.left + pw, PAD.top + ph] };
  }
  svg.append(svgEl("text", { x: PAD.left + pw / 2, y: height - 4, class: "gplot-label", "text-anchor": "middle" }, spec.xLabel));
  svg.append(svgEl("text", {
    x: 12, y: PAD.top + ph / 2, class: "gplot-label", "text-anchor": "middle",
    transform: `rotate(-90 12 ${PAD.top + ph / 2})`,
  }, spec.yLabel));
  box.replaceChildren(svg);
  box.dataset.op = op ? `${op.x.toFixed(1)},${op.y.toFixed(1)}` : "";
  return op;
}

/** A piecewise-linear curve extended flat to x0 and x1 (the standard's curves hold their end
 * values beyond the first and last point). */
export function flatExtended(pts, x0, x1) {
  if (!pts.length) return [];
  const out = [];
  if (pts[0][0] > x0) out.push([x0, pts[0][1]]);
  out.push(...pts);
  const last = pts[pts.length - 1];
  if (last[0] < x1) out.push([x1, last[1]]);
  return out;
}

/** Value of a piecewise-linear curve (flat beyond its ends) at x. */
export function interpolate(pts, x) {
  if (!pts.length) return NaN;
  if (x <= pts[0][0]) return pts[0][1];
  for (let k = 1; k < pts.length; k++) {
    const [xa, ya] = pts[k - 1];
    const [xb, yb] = pts[k];
    if (x <= xb) return xb === xa ? yb : ya + ((yb - ya) * (x - xa)) / (xb - xa);
  }
  return pts[pts.length - 1][1];
}
