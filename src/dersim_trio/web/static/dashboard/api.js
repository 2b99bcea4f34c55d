// REST helpers: the dashboard uses the same endpoints a script would.
// Every call resolves to an Answer; it never throws for HTTP errors.

const TOKEN_KEY = "dersim.apiToken";

export function apiToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setApiToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage unavailable: the token lives for this page only */
  }
}

/**
 * @typedef {object} Answer
 * @property {boolean} ok
 * @property {number} status      HTTP status (0 = network error)
 * @property {any} body           parsed JSON (or text)
 * @property {boolean} missing    the route does not exist on this server (404 "no route")
 * @property {string} [error]     short error text for display
 */

/**
 * Send one request. `body` (if not undefined) is sent as JSON; a request that changes
 * something always sends a JSON body (`{}` if none is given): the server refuses mutations
 * without one, so that no other web page can make a browser send them.
 */
export async function request(method, path, body, { signal } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, signal, cache: "no-store" };
  if (body === undefined && method !== "GET" && method !== "HEAD") body = {};
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const token = apiToken();
  if (token && method !== "GET") headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    return { ok: false, status: 0, body: null, missing: false, error: "server unreachable" };
  }
  const text = await response.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text */
  }
  const answer = { ok: response.ok, status: response.status, body: parsed, missing: false };
  if (!response.ok) {
    const detail = parsed && typeof parsed === "object" ? parsed.detail || parsed.error : text;
    answer.error = `${response.status} ${detail || response.statusText}`;
    // An unknown route (not an unknown device): the feature is not on this server (yet).
    answer.missing =
      response.status === 404 &&
      (!parsed || typeof parsed !== "object" || String(parsed.detail || "").startsWith("no route"));
  }
  return answer;
}

export const get = (path, opts) => request("GET", path, undefined, opts);

/** Human-readable rendering of an answer for the "server's answer" boxes. */
export function describe(answer, label = "") {
  const head = `${label ? label + ": " : ""}${answer.status === 0 ? "no answer" : "HTTP " + answer.status}`;
  if (answer.ok) return `${head} OK\n${JSON.stringify(answer.body, null, 2)}`;
  const body = answer.body;
  const lines = [head + (answer.error ? ` — ${answer.error.replace(/^\d+ /, "")}` : "")];
  if (body && typeof body === "object" && Array.isArray(body.fields)) {
    for (const f of body.fields) {
      lines.push(`  • ${f.field}: ${f.message}${f.allowed ? ` (allowed: ${f.allowed})` : ""}`);
    }
  }
  return lines.join("\n");
}
