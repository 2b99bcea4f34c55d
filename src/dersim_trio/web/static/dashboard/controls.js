// Inputs & controls tab: simulation input overrides, power controls, commands, faults.
// Every action shows the server's answer (validation errors included).

import { describe, get, request } from "./api.js";
import { $, el, fmtNum } from "./dom.js";

const INPUTS = [
  { field: "irradiance_w_m2", label: "Irradiance", unit: "W/m²", min: 0, max: 1500, step: 10, types: ["pv", "hybrid-dc"] },
  { field: "wind_speed_m_s", label: "Wind speed", unit: "m/s", min: 0, max: 75, step: 0.5, types: ["wind"] },
  { field: "ambient_temperature_c", label: "Ambient temperature", unit: "°C", min: -40, max: 60, step: 1 },
  { field: "load_kw", label: "Site load", unit: "kW", min: 0, max: 100000, step: 0.1, types: ["hybrid-dc"] },
  { field: "grid_voltage_pu", label: "Grid voltage", unit: "pu", min: 0, max: 1.5, step: 0.01 },
  { field: "grid_frequency_hz", label: "Grid frequency", unit: "Hz", min: 45, max: 65, step: 0.01 },
];

// `needs: "setpoint"`: offered only where the server's capability says `setpoint_supported`
// (PV and wind follow no active power setpoint; they are curtailed with the P limit).
const CONTROLS = [
  { field: "active_power_setpoint_kw", label: "Active power setpoint", unit: "kW", step: 0.1, clear: null, setpoint: true, needs: "setpoint" },
  { field: "active_power_limit_pct", label: "Curtailment (P limit)", unit: "%", min: 0, max: 100, step: 1, clear: 100, setpoint: true },
  { field: "power_factor", label: "Power factor", unit: "", min: 0.8, max: 1, step: 0.01, clear: null, setpoint: true, excitation: true },
  { field: "reactive_power_setpoint_kvar", label: "Reactive power setpoint", unit: "kvar", step: 0.1, clear: null, setpoint: true },
  { field: "ramp_rate_pct_per_s", label: "Ramp rate", unit: "%/s", min: 0, step: 1, clear: null },
  { field: "p_q_priority", label: "P/Q priority", choices: ["active", "reactive"] },
  { field: "hybrid_dispatch", label: "Hybrid dispatch", choices: ["self_consumption", "pv_priority", "manual"], types: ["hybrid-dc"] },
];

function showAnswer(box, answer, label) {
  box.hidden = false;
  box.textContent = describe(answer, label);
  box.classList.toggle("answer-ok", answer.ok);
  box.classList.toggle("answer-err", !answer.ok);
}

function showNote(note, answer, path) {
  if (answer.missing) {
    note.hidden = false;
    note.textContent = `Not available on this server yet (${path} answered 404). The rest of the dashboard works.`;
  } else if (!answer.ok) {
    note.hidden = false;
    note.textContent = `Could not read the state: ${answer.error}`;
  } else {
    note.hidden = true;
  }
}

function setDisabled(root, disabled) {
  for (const b of root.querySelectorAll("button, input, select")) b.disabled = disabled;
}

export class ControlsTab {
  constructor(app) {
    this.app = app;
    this.device = null;
    this.assetType = null;
    this.inputsState = null;
    this.controlsState = null;
    this.reversionTimer = 0;
    $("#ctl-reload").addEventListener("click", () => this.reload());
    for (const b of $("#cmd-buttons").querySelectorAll("button[data-cmd]")) {
      b.addEventListener("click", () => this.command(b.dataset.cmd));
    }
    $("#fault-inject").addEventListener("click", () => this.fault("POST"));
    $("#fault-clear").addEventListener("click", () => this.fault("DELETE", true));
    $("#fault-clear-all").addEventListener("click", () => this.fault("DELETE", false));
  }

  /** Called when the device or its asset type changes. */
  setDevice(device, assetType) {
    const changed = device !== this.device || assetType !== this.assetType;
    this.device = device;
    this.assetType = assetType;
    $("#ctl-device").textContent = `device ${device}${assetType ? ` (${assetType})` : ""}`;
    if (changed) {
      this.buildInputs();
      this.buildControls();
    }
  }

  /** The tab was opened (or the connection came back while it is open). */
  async reload() {
    if (this.device === null) return;
    await Promise.all([this.loadInputs(), this.loadControls(), this.loadCommands(), this.loadFaults()]);
  }

  // ------------------------------------------------------------ inputs
  buildInputs() {
    const form = $("#inputs-form");
    form.replaceChildren();
    for (const spec of INPUTS) {
      if (spec.types && this.assetType && !spec.types.includes(this.assetType)) continue;
      const input = el("input", {
        type: "number", id: `in-${spec.field}`, name: spec.field, step: spec.step,
        min: spec.min, max: spec.max, inputmode: "decimal", "aria-label": spec.label,
      });
      const current = el("span", { class: "current mono", id: `cur-${spec.field}` }, "–");
      const set = el("button", { type: "button", class: "btn btn-small", "data-action": "set" }, "Set");
      const back = el("button", { type: "button", class: "btn btn-small btn-ghost", "data-action": "profile" }, "Back to profile");
      set.addEventListener("click", () => this.putInputs({ [spec.field]: input.value === "" ? NaN : Number(input.value) }, spec.label));
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          set.click();
        }
      });
      back.addEventListener("click", () => this.putInputs({ [spec.field]: null }, `${spec.label} back to profile`));
      form.append(el("div", { class: "form-row", "data-field": spec.field },
        el("label", { for: input.id }, spec.label, " ", el("small", {}, `${spec.unit} (${spec.min}…${spec.max})`)),
        current, input, el("div", { class: "row-buttons" }, set, back)));
    }
  }

  renderInputs(state) {
    this.inputsState = state;
    $("#inputs-profile").textContent = state.has_profile ? "fed by a --dc_profile file" : "";
    for (const spec of INPUTS) {
      const cur = document.getElementById(`cur-${spec.field}`);
      if (!cur) continue;
      const v = state[spec.field];
      const overridden = this.isOverride(spec.field, v);
      cur.textContent = v == null ? "profile" : `${fmtNum(v, 3)}${overridden ? "" : ""}`;
      cur.classList.toggle("overridden", overridden);
      cur.title = overridden ? "overridden" : "following the profile / model";
    }
  }

  isOverride(field, v) {
    if (v == null) return false;
    if (field === "grid_voltage_pu") return Math.abs(v - 1) > 1e-9;
    if (field === "grid_frequency_hz") return false; // nominal depends on the device (50/60 Hz)
    return true;
  }

  async loadInputs() {
    const path = `/api/dersim/devices/${this.device}/inputs`;
    const a = await get(path);
    showNote($("#inputs-note"), a, path);
    setDisabled($("#inputs-form"), a.missing);
    if (a.ok) this.renderInputs(a.body);
  }

  async putInputs(body, label) {
    for (const [k, v] of Object.entries(body)) {
      if (Number.isNaN(v)) {
        showAnswer($("#inputs-answer"), { ok: false, status: 0, error: `enter a number for ${k}`, body: null }, label);
        return;
      }
    }
    const path = `/api/dersim/devices/${this.device}/inputs`;
    const a = await request("PUT", path, body);
    this.app.noteAuth(a);
    showAnswer($("#inputs-answer"), a, `PUT ${path} ${JSON.stringify(body)}`);
    if (a.ok) this.renderInputs(a.body);
  }

  // ------------------------------------------------------------ controls
  buildControls() {
    const form = $("#controls-form");
    form.replaceChildren();
    for (const spec of CONTROLS) {
      if (spec.types && this.assetType && !spec.types.includes(this.assetType)) continue;
      let input;
      let excitation = null;
      if (spec.choices) {
        input = el("select", { id: `ctl-${spec.field}`, "aria-label": spec.label },
          ...spec.choices.map((c) => el("option", { value: c }, c.replace(/_/g, " "))));
      } else {
        input = el("input", {
          type: "number", id: `ctl-${spec.field}`, step: spec.step, min: spec.min, max: spec.max,
          inputmode: "decimal", "aria-label": spec.label,
        });
      }
      if (spec.excitation) {
        excitation = el("select", { id: "ctl-excitation", class: "excitation", "aria-label": "Excitation" },
          el("option", { value: "over" }, "over-excited (inject Q)"),
          el("option", { value: "under" }, "under-excited (absorb Q)"));
      }
      const current = el("span", { class: "current mono", id: `ccur-${spec.field}` }, "–");
      const set = el("button", { type: "button", class: "btn btn-small" }, "Set");
      set.addEventListener("click", () => {
        let value = input.value;
        if (!spec.choices) value = value === "" ? NaN : Number(value);
        if (Number.isNaN(value)) {
          showAnswer($("#controls-answer"), { ok: false, status: 0, error: `enter a number for ${spec.field}`, body: null }, spec.label);
          return;
        }
        const body = { [spec.field]: value };
        if (excitation) body.excitation = excitation.value;
        this.putControls(body, spec);
      });
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          set.click();
        }
      });
      const buttons = el("div", { class: "row-buttons" }, set);
      if ("clear" in spec) {
        const clear = el("button", { type: "button", class: "btn btn-small btn-ghost" }, spec.clear === null ? "Clear" : "Reset");
        clear.addEventListener("click", () => this.putControls({ [spec.field]: spec.clear }, spec));
        buttons.append(clear);
      }
      const row = el("div", { class: "form-row", "data-field": spec.field },
        el("label", { for: input.id }, spec.label, spec.unit ? " " : null, spec.unit ? el("small", {}, spec.unit) : null),
        current, input, buttons, excitation);
      // Until the capability is known, a control that needs one is not offered.
      row.hidden = Boolean(spec.needs);
      form.append(row);
    }
    const revert = el("input", { type: "number", id: "ctl-revert", min: 0, step: 1, placeholder: "never", inputmode: "decimal" });
    form.append(el("div", { class: "form-row form-row-wide" },
      el("label", { for: "ctl-revert" }, "Revert setpoints after", " ", el("small", {}, "s (optional)")), revert));
  }

  /** Offer only the controls this device supports (from the server's `capability`). */
  applyCapability(cap) {
    for (const spec of CONTROLS) {
      if (!spec.needs) continue;
      const row = $(`#controls-form [data-field="${spec.field}"]`);
      if (!row) continue;
      row.hidden = !(cap && cap.setpoint_supported);
    }
  }

  renderControls(state) {
    this.controlsState = state;
    for (const spec of CONTROLS) {
      const cur = document.getElementById(`ccur-${spec.field}`);
      if (!cur) continue;
      let v = state[spec.field];
      if (spec.field === "power_factor" && v != null && state.excitation) v = `${fmtNum(v, 3)} ${state.excitation}`;
      cur.textContent = v == null ? "—" : typeof v === "number" ? fmtNum(v, 2) : String(v).replace(/_/g, " ");
      const sel = document.getElementById(`ctl-${spec.field}`);
      if (spec.choices && sel && state[spec.field]) sel.value = state[spec.field];
    }
    const extra = $("#controls-extra");
    extra.replaceChildren();
    const cap = state.capability;
    this.applyCapability(cap);
    if (cap) {
      extra.append(el("div", { class: "muted", id: "ctl-capability" },
        `Capability: ${fmtNum(cap.w_max_kw, 1)} kW · ${fmtNum(cap.va_max_kva, 1)} kVA · ` +
        `Q ${fmtNum(cap.var_max_inj_kvar, 1)} inj / ${fmtNum(cap.var_max_abs_kvar, 1)} abs kvar · ` +
        (cap.setpoint_supported
          ? `active power setpoint ${this.assetType === "hybrid-dc" ? "with manual hybrid dispatch" : "supported"}`
          : "no active power setpoint on this asset: curtail it with the P limit")));
    }
    if (Array.isArray(state.clamped) && state.clamped.length) {
      extra.append(el("div", { class: "warn-text" }, "Clamped: " + state.clamped
        .map((c) => `${c.field} ${c.requested} → ${c.applied} (${c.reason})`).join("; ")));
    }
    this.reversionAt = {};
    const now = performance.now();
    for (const [field, s] of Object.entries(state.reversion || {})) this.reversionAt[field] = now + s * 1000;
    this.renderReversion();
    clearInterval(this.reversionTimer);
    if (Object.keys(this.reversionAt).length) this.reversionTimer = setInterval(() => this.renderReversion(), 1000);
  }

  renderReversion() {
    let box = document.getElementById("ctl-reversion");
    const entries = Object.entries(this.reversionAt || {})
      .map(([f, at]) => [f, Math.max(0, (at - performance.now()) / 1000)]);
    if (!entries.length) {
      box?.remove();
      return;
    }
    if (!box) {
      box = el("div", { id: "ctl-reversion", class: "muted" });
      $("#controls-extra").append(box);
    }
    box.textContent = "Reverts: " + entries.map(([f, s]) => `${f} in ${s.toFixed(0)} s`).join(", ");
    if (entries.every(([, s]) => s <= 0)) {
      clearInterval(this.reversionTimer);
      box.textContent += " (reverted — Reload state to refresh)";
    }
  }

  async loadControls() {
    const path = `/api/dersim/devices/${this.device}/controls`;
    const a = await get(path);
    showNote($("#controls-note"), a, path);
    setDisabled($("#controls-form"), a.missing);
    if (a.ok) this.renderControls(a.body);
  }

  async putControls(body, spec) {
    const revert = $("#ctl-revert").value;
    if (spec.setpoint && revert !== "" && body[spec.field] !== null) body.revert_after_s = Number(revert);
    const path = `/api/dersim/devices/${this.device}/controls`;
    const a = await request("PUT", path, body);
    this.app.noteAuth(a);
    showAnswer($("#controls-answer"), a, `PUT ${path} ${JSON.stringify(body)}`);
    if (a.missing) showNote($("#controls-note"), a, path);
    if (a.ok) this.renderControls(a.body);
  }

  // ------------------------------------------------------------ commands
  async loadCommands() {
    const path = "/api/dersim/commands?limit=10";
    const a = await get(path);
    showNote($("#commands-note"), a, "/api/dersim/commands");
    setDisabled($("#cmd-buttons"), a.missing);
    $("#cmd-table").hidden = !a.ok;
    if (a.ok) this.renderCommands(a.body);
  }

  renderCommands(records) {
    const tbody = $("#cmd-table tbody");
    tbody.replaceChildren();
    for (const r of records.slice(-10).reverse()) {
      tbody.append(el("tr", { class: r.outcome === "rejected" ? "row-rejected" : "" },
        el("td", {}, String(r.id)), el("td", { class: "mono" }, String(r.time || "").slice(11, 19)),
        el("td", {}, r.command), el("td", {}, r.device == null ? "all" : String(r.device)),
        el("td", {}, r.outcome), el("td", {}, r.detail || "")));
    }
  }

  async command(cmd) {
    const device = $("#cmd-target").value === "all" ? null : this.device;
    const body = { command: cmd, device };
    const a = await request("POST", "/api/dersim/commands", body);
    this.app.noteAuth(a);
    showAnswer($("#commands-answer"), a, `POST /api/dersim/commands ${JSON.stringify(body)}`);
    if (a.missing) showNote($("#commands-note"), a, "/api/dersim/commands");
    else this.loadCommands();
  }

  // ------------------------------------------------------------ faults
  renderFaults(state) {
    const active = state.active || [];
    $("#fault-active").textContent = active.length
      ? active.join(", ") + (state.latched ? " (latched: reset needed)" : "")
      : state.latched ? "none active, latched: send Reset" : "none";
  }

  async loadFaults() {
    const path = `/api/dersim/devices/${this.device}/faults`;
    const a = await get(path);
    showNote($("#faults-note"), a, path);
    setDisabled($("#faults-card .row-wrap"), a.missing);
    if (a.ok) this.renderFaults(a.body);
  }

  async fault(method, oneType) {
    const path = `/api/dersim/devices/${this.device}/faults`;
    const type = $("#fault-type").value;
    const body = method === "POST" || oneType ? { type } : {}; // {}: every condition
    const a = await request(method, path, body);
    this.app.noteAuth(a);
    showAnswer($("#faults-answer"), a, `${method} ${path} ${JSON.stringify(body)}`);
    if (a.missing) showNote($("#faults-note"), a, path);
    if (a.ok) this.renderFaults(a.body);
  }
}
