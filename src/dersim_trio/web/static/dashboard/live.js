// The telemetry WebSocket: one subscription (`?device=N`), browser-relative URL,
// reconnect with exponential backoff and jitter.

export const WS_PATH = "/api/dersim/ws/telemetry";

export function telemetryUrl(device) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${WS_PATH}?device=${encodeURIComponent(device)}`;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;

/**
 * Live telemetry for one device.
 * Callbacks: onSnapshot(snapshot), onState({state, text, attempt, retryInMs}), onOpen().
 * state: "connecting" | "live" | "stale" | "reconnecting" | "closed"
 */
export class Telemetry {
  constructor({ onSnapshot, onState, onOpen }) {
    this.onSnapshot = onSnapshot;
    this.onState = onState;
    this.onOpen = onOpen;
    this.device = 0;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = 0;
    this.countdownTimer = 0;
    this.staleTimer = 0;
    this.staleAfterMs = 5000;
    this.lastMessageAt = 0;
    this.everOpened = false;
  }

  /** (Re)connect to device `device` at once. */
  connect(device) {
    this.device = device;
    this.attempt = 0;
    this._open();
  }

  setStaleAfter(periodSeconds) {
    this.staleAfterMs = Math.max(3000, periodSeconds * 3500);
  }

  _clearTimers() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdownTimer);
    this.retryTimer = 0;
    this.countdownTimer = 0;
  }

  _drop() {
    if (!this.ws) return;
    const ws = this.ws;
    this.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(1000, "dashboard switched device");
    } catch {
      /* already closed */
    }
  }

  _open() {
    this._clearTimers();
    this._drop();
    const ws = new WebSocket(telemetryUrl(this.device));
    this.ws = ws;
    this.onState({
      state: "connecting",
      text: this.attempt ? `Reconnecting… (attempt ${this.attempt})` : "Connecting…",
    });
    ws.onopen = () => {
      this.attempt = 0;
      this.everOpened = true;
      this.lastMessageAt = performance.now();
      this.onState({ state: "live", text: "Live" });
      this.onOpen?.();
      this._watchStale();
    };
    ws.onmessage = (event) => {
      this.lastMessageAt = performance.now();
      let snapshot;
      try {
        snapshot = JSON.parse(event.data);
      } catch {
        return;
      }
      if (this._stale) {
        this._stale = false;
        this.onState({ state: "live", text: "Live" });
      }
      this.onSnapshot(snapshot);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.staleTimer);
      this._scheduleRetry(event);
    };
  }

  _watchStale() {
    clearInterval(this.staleTimer);
    this._stale = false;
    this.staleTimer = setInterval(() => {
      if (!this.ws || this._stale) return;
      if (performance.now() - this.lastMessageAt > this.staleAfterMs) {
        this._stale = true;
        this.onState({ state: "stale", text: "Connected, no data" });
      }
    }, 1000);
  }

  _scheduleRetry(event) {
    this.attempt += 1;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.attempt - 1));
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    let why = "connection lost";
    if (event.code === 1001) why = "server shut down";
    else if (event.code === 1008) why = `rejected: ${event.reason || "policy"}`;
    else if (!this.everOpened) why = "server unreachable";
    const due = performance.now() + delay;
    const report = () => {
      const left = Math.max(0, (due - performance.now()) / 1000);
      this.onState({
        state: "reconnecting",
        text: `Disconnected (${why}) — reconnecting in ${left.toFixed(0)} s`,
        attempt: this.attempt,
        retryInMs: left * 1000,
      });
    };
    report();
    this.countdownTimer = setInterval(report, 1000);
    this.retryTimer = setTimeout(() => this._open(), delay);
  }

  /** Reconnect now (user asked). */
  retryNow() {
    if (this.ws) return;
    this._open();
  }
}
