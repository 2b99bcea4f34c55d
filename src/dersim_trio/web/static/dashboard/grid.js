// Grid tab: the grid the device sees, its IEEE 1547-2018 functions drawn with the live operating
// point, ride-through and trip state, grid conditions and events, and the grid-support settings
// form. Reads the telemetry snapshot's `status` and `grid_support` blocks; changes go through
// the same REST routes a script uses (`/grid-support`, `/inputs`, `/grid-events`), and the
// server's validation errors are shown beside the field they name.

import { describe, get, request } from "./api.js";
import { $, el, fmtNum, setText } from "./dom.js";
import { drawPlot, flatExtended, interpolate } from "./gridplot.js";

const F_NOM = 60; // the droop, trip and ride-through tables of the standard are for 60 Hz
const POLL_MS = 1000;
const LOG_ROWS = 50;

const STATE_KIND = {
  continuous: "ok", mandatory: "warn", permissive: "warn", entering_service: "warn",
  momentary_cessation: "bad", tripped: "bad",
};
const MODE_LABEL = {
  constant_pf: "constant power factor", volt_var: "volt-var", watt_var: "watt-var",
  constant_q: "constant reactive power",
};

// The settings form: one fieldset per function. [field, label, unit]; `pt` curves get a table.
const FUNCTIONS = [
  ["constant_pf", "Constant power factor (704)", [
    ["enabled", "Enabled"], ["pf_w_inj", "PF, injecting P", ""], ["pf_w_inj_ext", "Excitation, injecting"],
    ["pf_w_abs", "PF, absorbing P", ""], ["pf_w_abs_ext", "Excitation, absorbing"], ["rsp_tms_s", "Response time", "s"]]],
  ["volt_var", "Volt-var (705)", [
    ["enabled", "Enabled"], ["pt", "Points", ["V %", "Q %"]], ["v_ref_pct", "V_ref", "%"],
    ["v_ref_auto_ena", "Autonomous V_ref"], ["v_ref_auto_tms_s", "V_ref time constant", "s"],
    ["rsp_tms_s", "Open-loop response time", "s"]]],
  ["watt_var", "Watt-var (712)", [
    ["enabled", "Enabled"], ["pt", "Points", ["P %", "Q %"]], ["rsp_tms_s", "Response time", "s"]]],
  ["constant_q", "Constant reactive power (704)", [
    ["enabled", "Enabled"], ["var_set_pct", "Q", "% of rating"], ["rsp_tms_s", "Response time", "s"]]],
  ["volt_watt", "Volt-watt (706)", [
    ["enabled", "Enabled"], ["pt", "Points", ["V %", "P %"]], ["rsp_tms_s", "Open-loop response time", "s"]]],
  ["freq_droop", "Frequency droop (711)", [
    ["enabled", "Enabled"], ["db_of_hz", "Dead band, over-frequency", "Hz"], ["db_uf_hz", "Dead band, under-frequency", "Hz"],
    ["k_of", "Droop, over-frequency", "pu"], ["k_uf", "Droop, under-frequency", "pu"],
    ["rsp_tms_s", "Open-loop response time", "s"], ["p_min_pct", "P min", "%"]]],
  ["active_power_limit", "Active power limit (704)", [
    ["enabled", "Enabled"], ["w_max_lim_pct", "Limit", "% of WMaxRtg"], ["rsp_tms_s", "Response time", "s"]]],
  ["enter_service", "Enter service (703)", [
    ["es_v_hi_pct", "Window, V high", "%"], ["es_v_lo_pct", "Window, V low", "%"],
    ["es_hz_hi", "Window, f high", "Hz"], ["es_hz_lo", "Window, f low", "Hz"],
    ["es_dly_tms_s", "Delay", "s"], ["es_rnd_tms_s", "Randomized delay", "s"], ["es_rmp_tms_s", "Ramp", "s"]]],
  ["trip", "Must-trip settings (707–710)", [
    ["lv.must_trip", "Under-voltage UV1, UV2 (707)", ["V %", "s"]], ["lv.mom_cess_v_pct", "Momentary cessation below", "%"],
    ["hv.must_trip", "Over-voltage OV1, OV2 (708)", ["V %", "s"]], ["hv.mom_cess_v_pct", "Momentary cessation above", "%"],
    ["lf.must_trip", "Under-frequency UF1, UF2 (709)", ["Hz", "s"]],
    ["hf.must_trip", "Over-frequency OF1, OF2 (710)", ["Hz", "s"]]]],
];
const POINT_KEYS = {
  volt_var: ["v_pct", "var_pct"], watt_var: ["w_pct", "var_pct"], volt_watt: ["v_pct", "w_pct"],
  "trip.lv": ["v_pct", "tms_s"], "trip.hv": ["v_pct", "tms_s"], "trip.lf": ["freq_hz", "tms_s"],
  "trip.hf": ["freq_hz", "tms_s"],
};

const dig = (obj, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);

function setPath(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys[keys.length - 1]] = value;
}

export class GridTab {
  constructor(app) {
    this.app = app;
    this.device = null;
    this.active = false;
    this.settings = null;
    this.capability = null;
    this.inputs = null;
    this.last = null;
    this.logAfter = null;
    this.logEntries = [];
    this.timer = 0;
    this.busy = false;
    this.buildForm();
    $("#gs-category-apply").addEventListener("click", () => this.applyCategory());
    $("#gv-set").addEventListener("click", () => this.setVoltage());
    $("#gv-nominal").addEventListener("click", () => this.putInputs({ grid_voltage_pu: null }, "grid voltage back to the profile"));
    $("#gf-set").addEventListener("click", () => this.setFrequency());
    $("#gf-nominal").addEventListener("click", () => this.putInputs({ grid_frequency_hz: null }, "grid frequency back to the profile"));
    $("#ge-play").addEventListener("click", () => this.playEvent());
    $("#ge-end").addEventListener("click", () => this.endEvent());
    for (const input of document.querySelectorAll("#grid-conditions input")) {
      input.addEventListener("keydown", (e) => {
        if (e.key !== "Enter") return;
        e.preventDefault();
        input.closest(".form-row")?.querySelector("button")?.click();
      });
    }
    window.addEventListener("resize", () => this.active && this.renderCharts());
  }

  setDevice(device) {
    if (device === this.device) return;
    this.device = device;
    this.settings = null;
    this.last = null;
    setText($("#grid-device"), `device ${device}`);
    if (this.active) this.reload();
  }

  show(active) {
    this.active = active;
    clearTimeout(this.timer);
    if (active) {
      this.reload();
      this.poll();
    }
  }

  async reload() {
    const device = this.device;
    if (device === null) return;
    const [gs, ctl, inp] = await Promise.all([
      get(`/api/dersim/devices/${device}/grid-support`),
      get(`/api/dersim/devices/${device}/controls`),
      get(`/api/dersim/devices/${device}/inputs`),
    ]);
    if (device !== this.device) return;
    const note = $("#grid-note");
    if (!gs.ok) {
      note.hidden = false;
      note.textContent = gs.missing
        ? "Grid support is not available on this server yet (/grid-support answered 404)."
        : `Could not read the grid-support settings: ${gs.error}`;
      return;
    }
    note.hidden = true;
    if (ctl.ok) this.capability = ctl.body.capability;
    if (inp.ok) this.inputs = inp.body;
    this.renderSettings(gs.body);
    this.renderInputs();
  }

  // ------------------------------------------------------------ live values
  onSnapshot(s) {
    this.last = s;
    if (!this.active) return;
    this.renderLive(s);
    this.renderCharts();
  }

  renderLive(s) {
    const g = s.grid_support;
    const st = s.status;
    $("#grid-unsupported").hidden = g != null;
    const state = st.grid_state;
    const chip = $("#gchip-state");
    setText(chip, `1547 region: ${state ? state.replace(/_/g, " ") : "– (unit off)"}`);
    chip.className = `chip chip-${STATE_KIND[state] || "off"}`;
    const mode = g?.reactive_mode;
    setText($("#gchip-mode"), `reactive mode: ${mode ? MODE_LABEL[mode] : "none (operator's Q)"}`);
    const trip = $("#gchip-trip");
    trip.hidden = !st.last_trip;
    if (st.last_trip) setText(trip, `last trip: ${st.last_trip.cause} at ${fmtNum(st.last_trip.time_s, 2)} s`);

    const phases = g?.phase_voltage_pu || [];
    const names = phases.length === 3 ? ["A", "B", "C"] : [""];
    const tiles = $("#grid-voltages");
    if (tiles.childElementCount !== Math.max(1, phases.length)) {
      tiles.replaceChildren(...names.map((n, k) => el("div", { class: "tile", "data-key": `v${k}` },
        el("div", { class: "tile-label" }, n ? `Voltage ${n}` : "Voltage"),
        el("div", { class: "tile-value" }, el("span", { id: `gv-${k}` }, "–"), el("small", {}, "pu")))));
    }
    if (phases.length) phases.forEach((v, k) => setText($(`#gv-${k}`), fmtNum(v, 3)));
    else setText($("#gv-0"), "–");
    setText($("#gt-f"), fmtNum(s.metrics.frequency_hz, 3));
    setText($("#gt-rocof"), g ? fmtNum(g.rocof_hz_per_s, 3) : "–");
    setText($("#gt-p"), fmtNum(s.metrics.power_kw, 2));
    setText($("#gt-q"), fmtNum(s.metrics.reactive_power_kvar, 2));
    setText($("#gt-plim"), g ? fmtNum(g.p_limit_kw, 2) : "–");
    setText($("#gt-plim-by"), g ? `set by ${g.p_limit_by.replace(/_/g, " ")}` : "");
    setText($("#gs-functions"), g ? g.functions.map((f) => f.replace(/_/g, " ")).join(", ") || "none" : "–");
    setText($("#gs-vref"), g ? `${fmtNum(g.v_ref_pct, 2)} %` : "–");
    setText($("#gs-qtarget"), g ? `${fmtNum(g.target_q_kvar, 2)} kvar` : "–");
    this.markTrips(s);
  }

  /** The voltage the functions respond to (% of nominal) and the P and Q in % of the ratings. */
  operatingPoint(s) {
    const g = s.grid_support;
    const cap = this.capability;
    const m = s.metrics;
    const phases = g?.phase_voltage_pu || [];
    const vPct = phases.length ? (100 * phases.reduce((a, b) => a + b, 0)) / phases.length : NaN;
    const q = m.reactive_power_kvar;
    const qPct = cap ? (100 * q) / ((q >= 0 ? cap.var_max_inj_kvar : cap.var_max_abs_kvar) || 1) : NaN;
    const pPct = cap ? (100 * m.power_kw) / (cap.w_max_kw || 1) : NaN;
    return { vPct, qPct, pPct, f: m.frequency_hz, p: m.power_kw, q };
  }

  renderCharts() {
    const s = this.last;
    const set = this.settings;
    if (!s || !set) return;
    const op = this.operatingPoint(s);
    const mode = s.grid_support?.reactive_mode ?? set.reactive_mode;
    this.drawReactive(mode, set, op, s.grid_support);
    this.drawActive(set, op);
  }

  drawReactive(mode, set, op, g) {
    const box = $("#gchart-q");
    const cap = this.capability;
    let title = "P-Q plane (no reactive mode: the operator's Q)";
    if (mode === "volt_var") {
      const vv = set.volt_var;
      const shift = (g?.v_ref_pct ?? vv.v_ref_pct) - 100;
      const pts = vv.pt.map((p) => [p.v_pct + shift, p.var_pct]);
      const x = [Math.min(88, pts[0][0] - 3, op.vPct - 1), Math.max(112, pts[3][0] + 3, op.vPct + 1)];
      title = `Volt-var: Q (% of var rating) over V (% of nominal), V_ref ${fmtNum(shift + 100, 1)} %`;
      drawPlot(box, { x, y: [-110, 110], xLabel: "V, % of nominal", yLabel: "Q, %", refs: [{ y: 0 }, { x: 100 + shift }],
        lines: [{ pts: flatExtended(pts, x[0], x[1]), cls: "gplot-q" }], op: { x: op.vPct, y: op.qPct } });
    } else if (mode === "watt_var") {
      const pts = set.watt_var.pt.map((p) => [p.w_pct, p.var_pct]);
      const x = [Math.min(-105, op.pPct - 5), Math.max(105, op.pPct + 5)];
      title = "Watt-var: Q (% of var rating) over P (% of WMaxRtg)";
      drawPlot(box, { x, y: [-110, 110], xLabel: "P, % of WMaxRtg", yLabel: "Q, %", refs: [{ y: 0 }, { x: 0 }],
        lines: [{ pts: flatExtended(pts, x[0], x[1]), cls: "gplot-q" }], op: { x: op.pPct, y: op.qPct } });
    } else if (cap) {
      const w = cap.w_max_kw;
      const sMax = cap.va_max_kva;
      const circle = Array.from({ length: 73 }, (_, k) => [sMax * Math.cos((k * Math.PI) / 36), sMax * Math.sin((k * Math.PI) / 36)]);
      const lines = [{ pts: circle, cls: "gplot-limit" }];
      if (mode === "constant_pf") {
        const pf = set.constant_pf;
        const tan = (v, ext) => (v >= 1 ? 0 : (Math.sqrt(1 - v * v) / v) * (ext === "over" ? 1 : -1));
        lines.push({ pts: [[0, 0], [sMax, sMax * tan(pf.pf_w_inj, pf.pf_w_inj_ext)]], cls: "gplot-q" });
        lines.push({ pts: [[0, 0], [-sMax, sMax * tan(pf.pf_w_abs, pf.pf_w_abs_ext)]], cls: "gplot-q" });
        title = `Constant PF: ${fmtNum(pf.pf_w_inj, 3)} ${pf.pf_w_inj_ext}-excited injecting, ${fmtNum(pf.pf_w_abs, 3)} ${pf.pf_w_abs_ext}-excited absorbing`;
      } else if (mode === "constant_q") {
        const pct = set.constant_q.var_set_pct;
        const qk = (pct / 100) * (pct >= 0 ? cap.var_max_inj_kvar : cap.var_max_abs_kvar);
        lines.push({ pts: [[-sMax * 1.2, qk], [sMax * 1.2, qk]], cls: "gplot-q" });
        title = `Constant Q: ${fmtNum(pct, 1)} % (${fmtNum(qk, 2)} kvar)`;
      }
      const r = Math.max(sMax, w) * 1.1;
      drawPlot(box, { x: [-r, r], y: [-r, r], xLabel: "P, kW", yLabel: "Q, kvar", height: 240, equal: true,
        refs: [{ y: cap.var_max_inj_kvar }, { y: -cap.var_max_abs_kvar }, { x: 0 }, { y: 0 }],
        lines, op: { x: op.p, y: op.q } });
    }
    setText($("#gchart-q-title"), title);
  }

  drawActive(set, op) {
    const vw = set.volt_watt;
    const vwBox = $("#gchart-vw");
    $("#gcard-vw").hidden = !vw.enabled;
    if (vw.enabled) {
      const pts = vw.pt.map((p) => [p.v_pct, p.w_pct]);
      const x = [Math.min(98, op.vPct - 1), Math.max(114, pts[1][0] + 3, op.vPct + 1)];
      const yLo = Math.min(-5, pts[1][1] - 5, op.pPct - 5);
      drawPlot(vwBox, { x, y: [yLo, 110], xLabel: "V, % of nominal", yLabel: "P limit, %", refs: [{ y: 0 }],
        lines: [{ pts: flatExtended(pts, x[0], x[1]), cls: "gplot-p" }], op: { x: op.vPct, y: op.pPct } });
    }
    const fd = set.freq_droop;
    $("#gcard-fd").hidden = !fd.enabled;
    if (fd.enabled) {
      const dp = (f) => {
        if (f > F_NOM + fd.db_of_hz) return Math.max(-100, (-100 * (f - (F_NOM + fd.db_of_hz))) / (F_NOM * fd.k_of));
        if (f < F_NOM - fd.db_uf_hz) return Math.min(100, (100 * (F_NOM - fd.db_uf_hz - f)) / (F_NOM * fd.k_uf));
        return 0;
      };
      const x = [Math.min(58.5, op.f - 0.2), Math.max(61.5, op.f + 0.2)];
      const pts = [];
      for (const f of [x[0], F_NOM - fd.db_uf_hz, F_NOM + fd.db_of_hz, x[1]]) pts.push([f, dp(f)]);
      drawPlot($("#gchart-fd"), { x, y: [-110, 110], xLabel: "f, Hz", yLabel: "ΔP, % of rating", refs: [{ y: 0 }, { x: F_NOM }],
        lines: [{ pts, cls: "gplot-p" }], op: { x: op.f, y: dp(op.f) } });
    }
    const ap = set.active_power_limit;
    setText($("#gs-aplimit"), ap.enabled ? `${fmtNum(ap.w_max_lim_pct, 1)} % of WMaxRtg` : "off");
  }

  markTrips(s) {
    const g = s.grid_support;
    const phases = g?.phase_voltage_pu || [];
    if (!phases.length) return;
    const vLo = Math.min(...phases) * 100;
    const vHi = Math.max(...phases) * 100;
    const f = s.metrics.frequency_hz;
    for (const row of document.querySelectorAll("#grid-trip-table tbody tr")) {
      const limit = Number(row.dataset.limit);
      const beyond = { lv: vLo < limit, hv: vHi > limit, lf: f < limit, hf: f > limit }[row.dataset.curve];
      row.classList.toggle("row-beyond", Boolean(beyond));
    }
  }

  // ------------------------------------------------------------ settings
  renderSettings(state) {
    this.settings = state;
    $("#gs-normal").value = state.category.normal;
    $("#gs-abnormal").value = state.category.abnormal;
    setText($("#gs-category-now"), `now ${state.category.normal}, ${state.category.abnormal}`);
    for (const input of document.querySelectorAll("#grid-settings [data-path]")) {
      const v = dig(state, input.dataset.path);
      if (input.type === "checkbox") input.checked = Boolean(v);
      else input.value = v == null ? "" : String(v);
    }
    this.renderTripTable(state.trip);
    this.renderCharts();
  }

  renderTripTable(trip) {
    const rows = [];
    const add = (curve, name, point, key, unit) => rows.push(el("tr", { "data-curve": curve, "data-limit": point[key] },
      el("td", {}, name), el("td", { class: "mono" }, `${fmtNum(point[key], unit === "Hz" ? 2 : 1)} ${unit}`),
      el("td", { class: "mono" }, `${fmtNum(point.tms_s, 2)} s`)));
    const [ov1, ov2] = trip.hv.must_trip;
    const [uv1, uv2] = trip.lv.must_trip;
    const [of1, of2] = trip.hf.must_trip;
    const [uf1, uf2] = trip.lf.must_trip;
    add("hv", "OV2", ov2, "v_pct", "%");
    add("hv", "OV1", ov1, "v_pct", "%");
    add("lv", "UV1", uv1, "v_pct", "%");
    add("lv", "UV2", uv2, "v_pct", "%");
    add("hf", "OF2", of2, "freq_hz", "Hz");
    add("hf", "OF1", of1, "freq_hz", "Hz");
    add("lf", "UF1", uf1, "freq_hz", "Hz");
    add("lf", "UF2", uf2, "freq_hz", "Hz");
    $("#grid-trip-table tbody").replaceChildren(...rows);
    const mc = (v) => (v == null ? "none" : `${fmtNum(v, 1)} %`);
    setText($("#grid-momcess"), `Momentary cessation: below ${mc(trip.lv.mom_cess_v_pct)}, above ${mc(trip.hv.mom_cess_v_pct)} of nominal`);
  }

  buildForm() {
    const box = $("#grid-settings");
    for (const [fn, title, fields] of FUNCTIONS) {
      const rows = el("div", { class: "gs-rows" });
      for (const [field, label, unit] of fields) {
        const path = `${fn}.${field}`;
        if (Array.isArray(unit)) rows.append(this.pointsTable(path, label, unit));
        else rows.append(this.fieldRow(path, label, unit));
      }
      const apply = el("button", { type: "button", class: "btn btn-small", "data-apply": fn }, "Apply");
      const answer = el("pre", { class: "answer", id: `gs-answer-${fn}`, hidden: true });
      const set = el("fieldset", { class: "gs-fn card", "data-fn": fn }, el("legend", {}, title), rows,
        el("div", { class: "row-wrap gs-actions" }, apply, el("span", { class: "muted small" }, "empty field: the category default")), answer);
      apply.addEventListener("click", () => this.applyFunction(fn, set));
      box.append(set);
    }
  }

  fieldRow(path, label, unit) {
    const id = `gs-${path.replace(/\./g, "-")}`;
    const field = path.split(".").pop();
    let input;
    if (field === "enabled" || field === "v_ref_auto_ena") {
      input = el("input", { type: "checkbox", id, "data-path": path });
    } else if (field.endsWith("_ext")) {
      input = el("select", { id, "data-path": path },
        el("option", { value: "over" }, "over-excited"), el("option", { value: "under" }, "under-excited"));
    } else {
      input = el("input", { type: "number", id, step: "any", inputmode: "decimal", "data-path": path });
    }
    return el("div", { class: `gs-row${input.type === "checkbox" ? " gs-check" : ""}` },
      el("label", { for: id }, label, unit ? " " : null, unit ? el("small", {}, unit) : null), input);
  }

  pointsTable(path, label, headers) {
    const [section, ...rest] = path.split(".");
    const curveKey = section === "trip" ? `trip.${rest[0]}` : section;
    const keys = POINT_KEYS[curveKey];
    const count = { volt_var: 4, watt_var: 6, volt_watt: 2 }[section] || 2;
    const table = el("table", { class: "table gs-points small" },
      el("thead", {}, el("tr", {}, el("th", {}, "#"), ...headers.map((h) => el("th", {}, h)))));
    const body = el("tbody");
    for (let k = 0; k < count; k++) {
      body.append(el("tr", {}, el("td", {}, String(k + 1)), ...keys.map((key, c) => el("td", {},
        el("input", { type: "number", step: "any", inputmode: "decimal", "data-path": `${path}.${k}.${key}`,
          "data-point": "1", "aria-label": `${label} ${k + 1} ${headers[c]}` })))));
    }
    table.append(body);
    return el("div", { class: "gs-row gs-wide" }, el("div", { class: "gs-points-label" }, label), table);
  }

  /** The body of one function's fieldset; null (with the problems marked) if a field is not a number. */
  readFunction(fn, set) {
    const body = {};
    const bad = [];
    for (const input of set.querySelectorAll("[data-path]")) {
      const path = input.dataset.path;
      let value;
      if (input.type === "checkbox") value = input.checked;
      else if (input.tagName === "SELECT") value = input.value;
      else if (input.validity.badInput) {
        bad.push({ field: this.apiPath(path), message: "enter a number" });
        continue;
      } else value = input.value === "" ? null : Number(input.value);
      setPath(body, path, value);
    }
    if (bad.length) return { bad };
    // Curves: arrays, not objects keyed "0", "1", ...
    const fix = (o) => {
      for (const [k, v] of Object.entries(o)) {
        if (v && typeof v === "object" && !Array.isArray(v)) {
          o[k] = Object.keys(v).every((key) => /^\d+$/.test(key)) ? Object.keys(v).sort((a, b) => a - b).map((key) => v[key]) : fix(v);
        }
      }
      return o;
    };
    return { body: fix(body) };
  }

  /** "volt_var.pt.2.v_pct" → "volt_var.pt[2].v_pct", as the server names fields. */
  apiPath(path) {
    return path.replace(/\.(\d+)(?=\.|$)/g, "[$1]");
  }

  async applyFunction(fn, set) {
    const { body, bad } = this.readFunction(fn, set);
    const answer = $(`#gs-answer-${fn}`);
    if (bad) {
      this.showErrors(set, bad);
      this.showAnswer(answer, { ok: false, status: 0, error: "not sent", body: { fields: bad } }, "not sent");
      return;
    }
    await this.put(body, set, answer);
  }

  async applyCategory() {
    const body = { category: { normal: $("#gs-normal").value, abnormal: $("#gs-abnormal").value } };
    await this.put(body, $("#gs-category"), $("#gs-answer-category"));
  }

  async put(body, scope, answer) {
    const all = $("#gs-all").checked;
    const path = all ? "/api/dersim/grid-support" : `/api/dersim/devices/${this.device}/grid-support`;
    const a = await request("PUT", path, body);
    this.app.noteAuth(a);
    this.showErrors(scope, a.ok ? [] : (a.body && a.body.fields) || []);
    this.showAnswer(answer, a, `PUT ${path}`);
    if (a.ok) {
      const mine = Array.isArray(a.body) ? a.body.find((d) => d.device_index === this.device) : a.body;
      if (mine) this.renderSettings(mine);
    }
  }

  showAnswer(box, answer, label) {
    box.hidden = false;
    box.textContent = answer.ok ? `${label}: HTTP ${answer.status} OK, applied from the next tick` : describe(answer, label);
    box.classList.toggle("answer-ok", answer.ok);
    box.classList.toggle("answer-err", !answer.ok);
  }

  /** Mark every field the server (or the form) names, with its message under it. */
  showErrors(scope, fields) {
    for (const e of scope.querySelectorAll(".field-error")) e.remove();
    for (const e of scope.querySelectorAll(".invalid")) {
      e.classList.remove("invalid");
      e.removeAttribute("aria-invalid");
    }
    const shown = new Set();
    for (const f of fields) {
      const path = String(f.field).replace(/\[(\d+)\]/g, ".$1");
      let input = scope.querySelector(`[data-path="${path}"]`);
      // A whole curve ("volt_var.pt") or function named: mark its first field.
      if (!input) input = scope.querySelector(`[data-path^="${path}."]`);
      if (!input) continue;
      const name = f.label || (input.dataset.point ? f.field : "");
      const text = `${name ? `${name}: ` : ""}${f.message}${f.allowed ? ` (allowed: ${f.allowed})` : ""}`;
      input.classList.add("invalid");
      input.setAttribute("aria-invalid", "true");
      if (shown.has(input)) continue; // the first message for a field (two event points: one)
      shown.add(input);
      // Below the row of its field; below the whole event form for the event's boxes (side by
      // side on a wide card, where a message inside one box would push the others down).
      const host = input.closest(".ge-form") ? $("#ge-errors") : input.closest(".gs-row, .form-row") || input.parentElement;
      host.append(el("div", { class: "field-error", role: "alert" }, text));
    }
  }

  // ------------------------------------------------------------ grid conditions and events
  renderInputs() {
    const i = this.inputs;
    if (!i) return;
    const v = i.grid_voltage_pu;
    setText($("#gv-current"), Array.isArray(v) ? v.map((x) => fmtNum(x, 3)).join(" / ") : fmtNum(v, 3));
    setText($("#gf-current"), fmtNum(i.grid_frequency_hz, 3));
  }

  async putInputs(body, label) {
    const path = `/api/dersim/devices/${this.device}/inputs`;
    const a = await request("PUT", path, body);
    this.app.noteAuth(a);
    const scope = $("#grid-conditions");
    this.showErrors(scope, a.ok ? [] : (a.body && a.body.fields) || []);
    this.showAnswer($("#gc-answer"), a, `PUT ${path} (${label})`);
    if (a.ok) {
      this.inputs = a.body;
      this.renderInputs();
    }
  }

  setVoltage() {
    const text = $("#gv-input").value.trim();
    const values = text.split(/[\s,;/]+/).filter(Boolean).map(Number);
    if (!(values.length === 1 || values.length === 3) || values.some((x) => !Number.isFinite(x))) {
      this.showErrors($("#grid-conditions"), [{ field: "grid_voltage_pu", message: "enter one number, or three (per phase)" }]);
      return;
    }
    this.putInputs({ grid_voltage_pu: values.length === 1 ? values[0] : values }, "grid voltage");
  }

  setFrequency() {
    const input = $("#gf-input");
    if (input.value === "" || input.validity.badInput) {
      this.showErrors($("#grid-conditions"), [{ field: "grid_frequency_hz", message: "enter a number" }]);
      return;
    }
    this.putInputs({ grid_frequency_hz: Number(input.value) }, "grid frequency");
  }

  /** A step of voltage and/or frequency for a while, then back to the inputs' values. */
  async playEvent() {
    const num = (sel) => ($(sel).value === "" ? null : Number($(sel).value));
    const v = num("#ge-v");
    const f = num("#ge-f");
    const dur = num("#ge-dur");
    const scope = $("#grid-event-form");
    const bad = [];
    if (v == null && f == null) bad.push({ field: "ge.v", message: "give a voltage, a frequency or both" });
    if (dur == null || !(dur > 0)) bad.push({ field: "ge.dur", message: "give a duration > 0 s" });
    if (bad.length) {
      this.showErrors(scope, bad);
      return;
    }
    const body = { device: $("#ge-target").value === "all" ? null : this.device };
    if (v != null) body.voltage = [{ t_s: 0, v_pu: v }, { t_s: dur, v_pu: v }, { t_s: dur, v_pu: this.inputs?.grid_voltage_pu ?? 1 }];
    if (f != null) body.frequency = [{ t_s: 0, freq_hz: f }, { t_s: dur, freq_hz: f }, { t_s: dur, freq_hz: this.inputs?.grid_frequency_hz ?? F_NOM }];
    const a = await request("POST", "/api/dersim/grid-events", body);
    this.app.noteAuth(a);
    this.showErrors(scope, a.ok ? [] : ((a.body && a.body.fields) || []).map((e) => ({ ...e, field: this.eventField(e.field), label: e.field })));
    this.showAnswer($("#ge-answer"), a, "POST /api/dersim/grid-events");
    if (a.ok) this.renderEvent(a.body);
  }

  /** The form field a grid-event error names (voltage → the V box, frequency → the f box). */
  eventField(field) {
    if (String(field).startsWith("voltage")) return "ge.v";
    if (String(field).startsWith("frequency")) return "ge.f";
    return field;
  }

  async endEvent() {
    const a = await request("DELETE", "/api/dersim/grid-events", {});
    this.app.noteAuth(a);
    this.showAnswer($("#ge-answer"), a, "DELETE /api/dersim/grid-events");
    if (a.ok) this.renderEvent(a.body);
  }

  renderEvent(ev) {
    const box = $("#ge-state");
    $("#ge-end").disabled = !ev.active;
    const chip = $("#gchip-event");
    chip.hidden = !ev.active;
    if (!ev.active) {
      setText(box, "No grid event playing.");
      return;
    }
    const what = [ev.voltage ? `voltage ${ev.voltage.length} points` : null, ev.frequency ? `frequency ${ev.frequency.length} points` : null]
      .filter(Boolean).join(", ");
    const target = ev.device == null ? "every device" : `device ${ev.device}`;
    const text = `Grid event (${ev.source}) for ${target}: ${what}; ${fmtNum(ev.elapsed_s, 1)} of ${fmtNum(ev.duration_s, 1)} s` +
      (ev.holding ? " — past its data, holding the last value" : "");
    setText(box, text);
    setText(chip, ev.holding ? "grid event: holding" : "grid event playing");
  }

  // ------------------------------------------------------------ polling: event state and the Grid log
  async poll() {
    if (!this.active || this.busy) return;
    this.busy = true;
    try {
      const params = new URLSearchParams({ module: "Grid", limit: "200" });
      if (this.logAfter != null) params.set("after", String(this.logAfter));
      const [ev, logs] = await Promise.all([get("/api/dersim/grid-events"), get(`/api/dersim/logs?${params}`)]);
      if (ev.ok) this.renderEvent(ev.body);
      if (logs.ok) {
        const fresh = logs.body.entries || [];
        if (logs.body.next_after != null) this.logAfter = logs.body.next_after;
        if (fresh.length) {
          this.logEntries.push(...fresh);
          this.logEntries.splice(0, Math.max(0, this.logEntries.length - LOG_ROWS));
          this.renderLog();
        }
      }
    } finally {
      this.busy = false;
      clearTimeout(this.timer);
      if (this.active) this.timer = setTimeout(() => this.poll(), POLL_MS);
    }
  }

  renderLog() {
    const rows = this.logEntries.slice().reverse()
      .filter((e) => e.device == null || e.device === this.device)
      .map((e) => el("tr", { class: `lvl-${e.level}` },
        el("td", { class: "mono nowrap" }, String(e.time || "").slice(11, 19)),
        el("td", {}, el("span", { class: `lvl lvl-${e.level}` }, e.level)),
        el("td", { class: "msg" }, e.message)));
    const tbody = $("#grid-log tbody");
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "No grid events or trips yet.")));
  }
}
