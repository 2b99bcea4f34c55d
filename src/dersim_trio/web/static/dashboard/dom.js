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
