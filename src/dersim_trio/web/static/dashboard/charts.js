// Time series store (bounded window) and the uPlot charts drawn from it.
/* global uPlot */

export const MAX_POINTS = 100000; // hard cap, whatever the window and tick rate

/** Columns kept per tick. `t` is simulator time in epoch seconds. */
const COLUMNS = ["tick", "t", "p", "q", "s", "i", "vll", "vln", "key"];

export const KEY_DEFAULTS = {
  battery: "state_of_charge_pct",
  "hybrid-dc": "state_of_charge_pct",
  pv: "irradiance_w_m2",
  wind: "rotor_speed_rpm",
  fuelcell: "hydrogen_pct",
  evse: "ev_power_kw",
};

export const KEY_LABELS = {
  state_of_charge_pct: ["State of charge", "%"],
  irradiance_w_m2: ["Irradiance", "W/m²"],
  rotor_speed_rpm: ["Rotor speed", "rpm"],
  hydrogen_pct: ["Hydrogen", "%"],
  ev_power_kw: ["EV charging power", "kW"],
};

export function keyLabel(name) {
  return KEY_LABELS[name] || [name.replace(/_/g, " "), ""];
}

/** The key quantity `name` read from one snapshot (null when absent). */
export function keyValue(snapshot, name) {
  const m = snapshot.metrics;
  const a = snapshot.asset || {};
  switch (name) {
    case "state_of_charge_pct":
      return m.state_of_charge_pct;
    case "ev_power_kw":
      return Array.isArray(a.connectors)
        ? a.connectors.reduce((sum, c) => sum + (Number(c.power_kw) || 0), 0)
        : null;
    default: {
      const v = name in a ? a[name] : m[name];
      return typeof v === "number" ? v : null;
    }
  }
}

export class SeriesStore {
  constructor() {
    this.windowS = 7200;
    this.keyName = "state_of_charge_pct";
    this.clear();
  }

  clear() {
    for (const c of COLUMNS) this[c] = [];
  }

  get length() {
    return this.t.length;
  }

  /** Append one snapshot; returns false for a duplicate (the replayed cached tick). */
  push(snapshot) {
    const n = this.t.length;
    const t = Date.parse(snapshot.metrics.timestamp) / 1000;
    if (n) {
      const lastTick = this.tick[n - 1];
      if (snapshot.tick === lastTick) return false;
      if (snapshot.tick < lastTick || t < this.t[n - 1]) this.clear(); // a new server run
    }
    const m = snapshot.metrics;
    this.tick.push(snapshot.tick);
    this.t.push(t);
    this.p.push(m.power_kw);
    this.q.push(m.reactive_power_kvar);
    this.s.push(m.apparent_power_kva);
    this.i.push(m.current_a);
    this.vll.push(m.voltage_ll_v);
    this.vln.push(m.voltage_ln_v);
    this.key.push(keyValue(snapshot, this.keyName));
    this.trim();
    return true;
  }

  /** Replace the contents with a /history answer, keeping newer live points. */
  loadHistory(h) {
    const keep = {};
    const lastTick = h.tick.length ? h.tick[h.tick.length - 1] : -1;
    const from = this.tick.findIndex((k) => k > lastTick);
    for (const c of COLUMNS) keep[c] = from >= 0 ? this[c].slice(from) : [];
    this.tick = h.tick.slice();
    this.t = h.timestamp.map((s) => Date.parse(s) / 1000);
    this.p = h.power_kw.slice();
    this.q = h.reactive_power_kvar.slice();
    this.s = h.apparent_power_kva.slice();
    this.i = h.current_a.slice();
    this.vll = h.voltage_ll_v.slice();
    this.vln = (h.voltage_ln_v || h.voltage_ll_v.map((v) => v / Math.sqrt(3))).slice();
    this.key = (h.key_quantity || h.state_of_charge_pct || []).slice();
    if (this.key.length !== this.t.length) this.key = this.t.map(() => null);
    const lastT = this.t.length ? this.t[this.t.length - 1] : -Infinity;
    for (let k = 0; k < keep.t.length; k++) {
      if (keep.t[k] < lastT) continue;
      for (const c of COLUMNS) this[c].push(keep[c][k]);
    }
    this.trim();
  }

  /** Drop points older than the window (in chunks, so the cost is amortised) and over the cap. */
  trim() {
    const n = this.t.length;
    if (!n) return;
    const cutoff = this.t[n - 1] - this.windowS;
    let drop = 0;
    if (this.t[0] < cutoff) {
      // binary search for the first point inside the window
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.t[mid] < cutoff) lo = mid + 1;
        else hi = mid;
      }
      drop = lo;
    }
    drop = Math.max(drop, n - MAX_POINTS);
    // Trim when at least 1 % of the points (or 64) are stale, keeping the push path O(1).
    if (drop > 0 && (drop >= 64 || drop >= n / 100 || n > MAX_POINTS)) {
      for (const c of COLUMNS) this[c].splice(0, drop);
    }
  }

  lastT() {
    return this.t.length ? this.t[this.t.length - 1] : null;
  }
}

// ---------------------------------------------------------------- charts

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function palette() {
  return {
    p: cssVar("--c-p", "#2563eb"),
    q: cssVar("--c-q", "#d97706"),
    s: cssVar("--c-s", "#7c3aed"),
    i: cssVar("--c-i", "#059669"),
    vll: cssVar("--c-vll", "#dc2626"),
    vln: cssVar("--c-vln", "#db2777"),
    key: cssVar("--c-key", "#0891b2"),
    grid: cssVar("--grid", "rgba(128,128,128,0.18)"),
    axis: cssVar("--muted", "#666"),
    band: cssVar("--band", "rgba(16,185,129,0.12)"),
    limit: cssVar("--limit", "rgba(239,68,68,0.10)"),
  };
}

function axis(extra = {}) {
  const c = palette();
  return {
    stroke: c.axis,
    grid: { stroke: c.grid, width: 1 },
    ticks: { stroke: c.grid, width: 1 },
    ...extra,
  };
}

function sizeOf(el, height) {
  const w = Math.max(240, Math.floor(el.clientWidth || el.getBoundingClientRect().width || 600));
  const narrow = window.innerWidth < 640;
  return { width: w, height: Math.round(narrow ? height * 0.75 : height) };
}

function makeTzDate(timezone) {
  if (!timezone) return (ts) => new Date(ts * 1000);
  try {
    uPlot.tzDate(new Date(), timezone);
    return (ts) => uPlot.tzDate(new Date(ts * 1000), timezone);
  } catch {
    return (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
  }
}

const fmt1 = (v) => (v == null ? "–" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));

/**
 * The analytics series. `chart` names the chart that draws it: "main" (power on the left axis,
 * current on the right) or "volt" (both voltages on one axis). No chart has more than two y-axes
 * and no line has an area fill (under a voltage line a fill tints nearly the whole plot and says
 * nothing).
 */
export const MAIN_SERIES = [
  { key: "p", label: "Active power", unit: "kW", scale: "kW", chart: "main" },
  { key: "q", label: "Reactive power", unit: "kvar", scale: "kW", chart: "main" },
  // Dashed, as in the overview: at unity power factor S lies on P.
  { key: "s", label: "Apparent power", unit: "kVA", scale: "kW", chart: "main", dash: [4, 3] },
  // Dashed: the current tracks the power, so on its own axis the two lines often coincide.
  { key: "i", label: "Current", unit: "A", scale: "A", chart: "main", dash: [10, 4] },
  { key: "vll", label: "Voltage L-L", unit: "V", scale: "V", chart: "volt" },
  { key: "vln", label: "Voltage L-N", unit: "V", scale: "V", chart: "volt" },
];

/** The series of one analytics chart, in drawing order. */
export function chartSeries(chart) {
  return MAIN_SERIES.filter((s) => s.chart === chart);
}

/** The y-axes of an analytics chart: the first scale on the left, a second on the right. */
function chartAxes(scales) {
  const labels = { kW: "kW · kvar · kVA", A: "A", V: "V" };
  return [
    axis(),
    ...scales.map((scale, k) => axis({
      scale, label: labels[scale], size: 64, side: k === 0 ? 3 : 1,
      ...(k === 0 ? {} : { grid: { show: false } }),
    })),
  ];
}

function analyticsChart(el, store, timezone, chart, height) {
  const c = palette();
  const specs = chartSeries(chart);
  const scales = [...new Set(specs.map((s) => s.scale))];
  const series = [{}];
  for (const s of specs) {
    series.push({
      label: `${s.label} (${s.unit})`,
      scale: s.scale,
      stroke: c[s.key],
      width: 1.5,
      dash: s.dash,
      value: (_u, v) => fmt1(v),
      points: { show: false },
    });
  }
  const opts = {
    ...sizeOf(el, height),
    tzDate: makeTzDate(timezone),
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: Object.fromEntries([["x", { time: true }], ...scales.map((s) => [s, {}])]),
    axes: chartAxes(scales),
    series,
  };
  return new uPlot(opts, columnsFor(store, specs.map((s) => s.key)), el);
}

/** Analytics: P, Q, S (kW axis, left) and the current (A axis, right). */
export function createMainChart(el, store, timezone) {
  return analyticsChart(el, store, timezone, "main", 340);
}

/** Analytics: the L-L and L-N voltages on one V axis. */
export function createVoltageChart(el, store, timezone) {
  return analyticsChart(el, store, timezone, "volt", 200);
}

/** Key quantity chart; for SoC with the reserve band and the limits shaded. */
export function createKeyChart(el, store, timezone, bands) {
  const c = palette();
  const [label, unit] = keyLabel(store.keyName);
  const opts = {
    ...sizeOf(el, 200),
    tzDate: makeTzDate(timezone),
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y: store.keyName.endsWith("_pct") ? { range: [0, 100] } : {},
    },
    axes: [axis(), axis({ label: unit, size: 56 })],
    series: [
      {},
      {
        label: `${label}${unit ? ` (${unit})` : ""}`,
        stroke: c.key,
        width: 1.5,
        value: (_u, v) => fmt1(v),
        points: { show: false },
      },
    ],
    hooks: {
      drawAxes: [
        (u) => {
          const b = bands();
          if (!b) return;
          const { ctx } = u;
          const { left, width } = u.bbox;
          const y = (v) => u.valToPos(v, "y", true);
          ctx.save();
          if (b.min != null) {
            ctx.fillStyle = c.limit;
            ctx.fillRect(left, y(b.min), width, y(0) - y(b.min));
          }
          if (b.max != null) {
            ctx.fillStyle = c.limit;
            ctx.fillRect(left, y(100), width, y(b.max) - y(100));
          }
          if (b.resMin != null && b.resMax != null) {
            ctx.fillStyle = c.band;
            ctx.fillRect(left, y(b.resMax), width, y(b.resMin) - y(b.resMax));
          }
          ctx.restore();
        },
      ],
    },
  };
  return new uPlot(opts, columnsFor(store, ["key"]), el);
}

/** Small overview chart: P, Q, S over the last minutes. */
export function createMiniChart(el, store, timezone) {
  const c = palette();
  const opts = {
    ...sizeOf(el, 180),
    tzDate: makeTzDate(timezone),
    cursor: { show: false },
    legend: { show: true, live: false },
    scales: { x: { time: true } },
    axes: [axis(), axis({ size: 56 })],
    series: [
      {},
      { label: "P kW", stroke: c.p, width: 1.5, points: { show: false } },
      { label: "Q kvar", stroke: c.q, width: 1.5, points: { show: false } },
      { label: "S kVA", stroke: c.s, width: 1.5, dash: [4, 3], points: { show: false } },
    ],
  };
  return new uPlot(opts, columnsFor(store, ["p", "q", "s"]), el);
}

export function columnsFor(store, keys) {
  return [store.t, ...keys.map((k) => store[k])];
}

/**
 * I-V curve chart: current and power over voltage, with the operating point marked by a dot.
 * The dot has no text on the plot (a label there overlaps the curve and is clipped on a narrow
 * screen); the page names it in a legend line beside the chart. The dot's position, in CSS pixels
 * of the plot area, is kept in `u.operatingPointPx` (null when none is drawn).
 */
export function createIvChart(el, getOperatingPoint, columns) {
  const c = palette();
  const opts = {
    ...sizeOf(el, 260),
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: false }, A: {}, kW: {} },
    axes: [
      axis({ label: "DC voltage (V)" }),
      axis({ scale: "A", label: "Current (A)", size: 56 }),
      axis({ scale: "kW", side: 1, label: "Power (kW)", size: 56, grid: { show: false } }),
    ],
    series: [
      { label: "V", value: (_u, v) => (v == null ? "–" : v.toFixed(1)) },
      { label: "I (A)", scale: "A", stroke: c.i, width: 2, points: { show: false } },
      { label: "P (kW)", scale: "kW", stroke: c.p, width: 1.5, dash: [5, 4], points: { show: false } },
    ],
    hooks: {
      draw: [
        (u) => {
          u.operatingPointPx = null;
          const op = getOperatingPoint();
          if (!op) return;
          const x = u.valToPos(op.v, "x", true);
          const y = u.valToPos(op.i, "A", true);
          if (!Number.isFinite(x) || !Number.isFinite(y)) return;
          const { ctx } = u;
          const r = IV_MARKER_RADIUS * devicePixelRatio;
          ctx.save();
          ctx.beginPath();
          ctx.arc(x, y, r, 0, 2 * Math.PI);
          ctx.closePath();
          ctx.fillStyle = c.vll;
          ctx.fill();
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.strokeStyle = "#ffffff";
          ctx.stroke();
          ctx.restore();
          u.operatingPointPx = { x: u.valToPos(op.v, "x"), y: u.valToPos(op.i, "A"), r: IV_MARKER_RADIUS };
        },
      ],
    },
  };
  return new uPlot(opts, columns, el);
}

const IV_MARKER_RADIUS = 6;

/** Resize a chart to its container (on window resize / tab show). */
export function fit(u, el, fallbackH) {
  if (!u || !el.offsetParent) return;
  const size = sizeOf(el, fallbackH);
  if (size.width !== u.width || size.height !== u.height) u.setSize(size);
}
