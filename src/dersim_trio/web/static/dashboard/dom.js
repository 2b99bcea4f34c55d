// Small DOM and formatting helpers.

export const $ = (selector, root = document) => root.querySelector(selector);

/** Create an element: el("div", {class: "x"}, child, "text", ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

const formatters = new Map();

/** Format a number with `digits` decimals and thousands separators ("–" for null). */
export function fmtNum(v, digits = 2) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  let f = formatters.get(digits);
  if (!f) {
    f = new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    formatters.set(digits, f);
  }
  const out = f.format(v);
  return out === "-0" || /^-0\.0*$/.test(out) ? out.slice(1) : out;
}

/** Power-like numbers: fewer decimals for large magnitudes. */
export function fmtPower(v) {
  if (v === null || v === undefined) return "–";
  const a = Math.abs(v);
  return fmtNum(v, a >= 1000 ? 1 : a >= 100 ? 2 : 3);
}

/** Set text only when it changed (cheap per-tick updates). */
export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

/**
 * An energy in kWh with a unit that suits its size: Wh below 1 kWh (a fresh run shows its first
 * watt-hours instead of "0.00 kWh" for minutes), kWh below 1 MWh, MWh above.
 * Returns [number text, unit]; three significant digits at least.
 */
export function fmtEnergy(kwh) {
  if (kwh === null || kwh === undefined || !Number.isFinite(kwh)) return ["–", ""];
  const a = Math.abs(kwh);
  // Switch where the smaller unit would round up to "1,000".
  const [value, unit] =
    a < 0.9995 ? [kwh * 1000, "Wh"] : a < 999.5 ? [kwh, "kWh"] : [kwh / 1000, "MWh"];
  const m = Math.abs(value);
  return [fmtNum(value, m >= 100 ? 0 : m >= 10 ? 1 : 2), unit];
}
