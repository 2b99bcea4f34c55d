// Logs tab: GET /api/dersim/logs, module drop-down, level chips, following new entries.
// Polls once a second only while the tab is open and "Following" is on.

import { get } from "./api.js";
import { $, el } from "./dom.js";

const LEVELS = ["debug", "info", "warning", "error"];
const KNOWN_MODULES = ["Lab", "AC", "DC", "WS", "API", "Modbus", "Grid"];
const MAX_ROWS = 1000;
const POLL_MS = 1000;

export class LogsTab {
  constructor() {
    this.entries = [];
    this.after = null;
    this.module = "";
    this.levels = new Set(LEVELS);
    this.following = true;
    this.active = false;
    this.timer = 0;
    this.busy = false;
    this.modules = new Set(KNOWN_MODULES);
    this.renderModules();
    $("#log-module").addEventListener("change", (e) => {
      this.module = e.target.value;
      $("#log-table").classList.toggle("one-module", this.module !== "");
      this.restart();
    });
    for (const chip of $("#log-levels").querySelectorAll("[data-level]")) {
      chip.addEventListener("click", () => {
        const lvl = chip.dataset.level;
        if (this.levels.has(lvl)) this.levels.delete(lvl);
        else this.levels.add(lvl);
        chip.classList.toggle("on", this.levels.has(lvl));
        chip.setAttribute("aria-pressed", String(this.levels.has(lvl)));
        this.render(); // immediate re-filter of what we hold
        if (this.minLevel() !== this.fetchedLevel) this.restart();
      });
    }
    $("#log-follow").addEventListener("click", () => {
      this.following = !this.following;
      const b = $("#log-follow");
      b.textContent = this.following ? "Following" : "Paused";
      b.setAttribute("aria-pressed", String(this.following));
      b.classList.toggle("paused", !this.following);
      this.schedule();
    });
  }

  minLevel() {
    return LEVELS.find((l) => this.levels.has(l)) || "error";
  }

  renderModules() {
    const sel = $("#log-module");
    const current = sel.value;
    sel.replaceChildren(el("option", { value: "" }, "All"),
      ...[...this.modules].sort().map((m) => el("option", { value: m }, m)));
    sel.value = current;
  }

  show(active) {
    this.active = active;
    if (active && this.entries.length === 0) this.restart();
    else this.schedule();
  }

  restart() {
    this.entries = [];
    this.after = null;
    clearTimeout(this.timer);
    this.render();
    this.poll();
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.active && this.following && !this.unavailable) {
      this.timer = setTimeout(() => this.poll(), POLL_MS);
    }
  }

  async poll() {
    if (this.busy) return;
    this.busy = true;
    try {
      const params = new URLSearchParams();
      if (this.module) params.set("module", this.module);
      this.fetchedLevel = this.minLevel();
      params.set("level", this.fetchedLevel);
      params.set("limit", this.after == null ? "200" : "500");
      if (this.after != null) params.set("after", String(this.after));
      const path = `/api/dersim/logs?${params}`;
      const a = await get(path);
      const note = $("#logs-note");
      if (a.missing) {
        this.unavailable = true;
        note.hidden = false;
        note.textContent = "Logs are not available on this server yet (/api/dersim/logs answered 404).";
        $("#log-meta").textContent = "";
        return;
      }
      this.unavailable = false;
      if (!a.ok) {
        note.hidden = false;
        note.textContent = `Could not read the logs: ${a.error}`;
        return;
      }
      note.hidden = true;
      const fresh = a.body.entries || [];
      if (a.body.next_after != null) this.after = a.body.next_after;
      else if (fresh.length) this.after = fresh[fresh.length - 1].id;
      let newModule = false;
      for (const e of fresh) {
        if (e.module && !this.modules.has(e.module)) {
          this.modules.add(e.module);
          newModule = true;
        }
      }
      if (newModule) this.renderModules();
      if (fresh.length) {
        this.entries.push(...fresh);
        if (this.entries.length > MAX_ROWS) this.entries.splice(0, this.entries.length - MAX_ROWS);
        this.render();
      }
      $("#log-meta").textContent = `${this.entries.length} entries${this.following ? "" : " (paused)"}`;
    } finally {
      this.busy = false;
      this.schedule();
    }
  }

  render() {
    const wrap = $(".log-wrap");
    const atBottom = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 8;
    const tbody = $("#log-table tbody");
    const rows = [];
    for (const e of this.entries) {
      if (!this.levels.has(e.level)) continue;
      rows.push(el("tr", { class: `lvl-${e.level}` },
        el("td", { class: "mono nowrap" }, String(e.time || "").replace("T", " ").slice(0, 23)),
        el("td", {}, el("span", { class: `lvl lvl-${e.level}` }, e.level)),
        el("td", { class: "col-module" }, e.module || ""),
        el("td", {}, e.device == null ? "" : String(e.device)),
        el("td", { class: "msg" }, e.message)));
    }
    tbody.replaceChildren(...rows);
    if (!rows.length) {
      tbody.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No entries match.")));
    }
    if (this.following && atBottom) wrap.scrollTop = wrap.scrollHeight;
  }
}
