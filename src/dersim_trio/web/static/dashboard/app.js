// dersim-trio live dashboard: one telemetry WebSocket subscription plus the REST calls the
// user makes. No build step, no framework; uPlot (vendored) draws the charts.

import { get, setApiToken, apiToken } from "./api.js";
import {
  KEY_DEFAULTS, MAIN_SERIES, SeriesStore, chartSeries, columnsFor, createIvChart, createKeyChart,
  createMainChart, createMiniChart, createVoltageChart, fit, keyLabel,
} from "./charts.js";
import { ControlsTab } from "./controls.js";
import { GridTab } from "./grid.js";
import { $, el, fmtEnergy, fmtNum, fmtPower, setText } from "./dom.js";
import { Telemetry } from "./live.js";
import { LogsTab } from "./logs.js";

const MINI_WINDOW_S = 600;
const WINDOW_PRESETS = [900, 2700, 7200, 14400];
const PREFS_KEY = "dersim.dashboard.prefs";
const SELECT_MAX_DEVICES = 200; // above this, a number box instead of a drop-down

function loadPrefs() {
  try {
    return JSON.parse(localStorage.getItem(PREFS_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

function savePrefs(prefs) {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    /* private mode: preferences last for this page only */
  }
}

// ---------------------------------------------------------------- asset panel definitions
const n = (d) => (v) => (typeof v === "number" ? fmtNum(v, d) : "–");
const txt = (v) => (v == null ? "–" : String(v).replace(/_/g, " "));
const yesNo = (v) => (v ? "yes" : "no");

const ASSET_FIELDS = {
  pv: ["PV array", [
    ["irradiance_w_m2", "Irradiance (POA)", "W/m²", n(0)],
    ["cell_temperature_c", "Cell temperature", "°C", n(1)],
    ["ambient_temperature_c", "Ambient temperature", "°C", n(1)],
    ["clear_sky_irradiance_w_m2", "Clear-sky irradiance", "W/m²", n(0)],
    ["clear_sky_index", "Clear-sky index", "", n(2)],
    ["solar_zenith_deg", "Solar zenith", "°", n(1)],
    ["dc_available_kw", "DC available", "kW", n(2)],
    ["dc_mpp_voltage_v", "MPP voltage", "V", n(1)],
    ["dc_open_circuit_voltage_v", "Open-circuit voltage", "V", n(1)],
    ["clipped", "Clipped", "", yesNo],
  ]],
  wind: ["Wind turbine", [
    ["wind_speed_m_s", "Wind speed (anemometer)", "m/s", n(2)],
    ["hub_wind_speed_m_s", "Wind speed (hub)", "m/s", n(2)],
    ["rotor_speed_rpm", "Rotor speed", "rpm", n(2)],
    ["generator_speed_rpm", "Generator speed", "rpm", n(0)],
    ["pitch_deg", "Blade pitch", "°", n(2)],
    ["power_coefficient", "Power coefficient Cp", "", n(3)],
    ["tip_speed_ratio", "Tip-speed ratio", "", n(2)],
    ["aerodynamic_power_kw", "Aerodynamic power", "kW", n(1)],
    ["operating_region", "Operating region", "", txt],
    ["turbine_state", "Turbine state", "", txt],
  ]],
  battery: ["Battery bank", [
    ["chemistry", "Chemistry", "", txt],
    ["state_of_health_pct", "State of health", "%", n(1)],
    ["energy_available_kwh", "Energy available", "kWh", n(2)],
    ["energy_to_full_kwh", "Energy to full", "kWh", n(2)],
    ["pack_ocv_v", "Pack OCV", "V", n(1)],
    ["cell_voltage_v", "Cell voltage", "V", n(3)],
    ["max_charge_kw", "Max charge", "kW", n(1)],
    ["max_discharge_kw", "Max discharge", "kW", n(1)],
  ]],
  fuelcell: ["Fuel cell", [
    ["mode", "Mode", "", txt],
    ["stack_voltage_v", "Stack voltage", "V", n(2)],
    ["stack_current_a", "Stack current", "A", n(2)],
    ["hydrogen_pct", "Hydrogen", "%", n(1)],
    ["hydrogen_kg", "Hydrogen", "kg", n(3)],
    ["hydrogen_flow_g_s", "H₂ flow", "g/s", n(3)],
    ["stack_efficiency_pct", "Stack efficiency", "%", n(1)],
    ["chemistry", "Chemistry", "", txt],
    ["fuel", "Fuel", "", txt],
  ]],
  "hybrid-dc": ["Hybrid PV + battery", [
    ["dispatch", "Dispatch", "", txt],
    ["pv_power_kw", "PV power", "kW", n(2)],
    ["battery_power_kw", "Battery power", "kW", n(2)],
    ["irradiance_w_m2", "Irradiance", "W/m²", n(0)],
    ["cell_temperature_c", "Cell temperature", "°C", n(1)],
    ["battery_soc_pct", "Battery SoC", "%", n(1)],
    ["site_load_kw", "Site load", "kW", n(2)],
    ["grid_power_kw", "Grid (+ import)", "kW", n(2)],
    ["energy_available_kwh", "Energy available", "kWh", n(2)],
    ["pv_curtailed_kw", "PV curtailed", "kW", n(2)],
    ["pv_voltage_v", "PV voltage", "V", n(1)],
    ["battery_voltage_v", "Battery voltage", "V", n(1)],
  ]],
  evse: ["EV charger", [
    ["profile", "Profile", "", txt],
    ["grid_power_kw", "Grid power", "kW", n(2)],
    ["grid_limit_kw", "Grid limit", "kW", n(1)],
    ["backing_battery_soc_pct", "Backing battery SoC", "%", n(1)],
    ["energy_delivered_kwh", "Energy delivered", "kWh", n(2)],
    ["sessions_completed", "Sessions completed", "", n(0)],
  ]],
};

// ---------------------------------------------------------------- the app
class Dashboard {
  constructor() {
    this.prefs = loadPrefs();
    const params = new URLSearchParams(location.search);
    this.device = Math.max(0, parseInt(params.get("device") || "0", 10) || 0);
    this.info = null;
    this.last = null;
    this.assetType = null;
    this.store = new SeriesStore();
    this.store.windowS = WINDOW_PRESETS.includes(this.prefs.windowS) ? this.prefs.windowS : 7200;
    this.hidden = new Set(this.prefs.hidden || []);
    this.historyLoadedFor = null;
    this.historyRequest = 0;
    this.tab = "overview";
    this.drawPending = false;
    this.lastDraw = 0;
    this.ivCurve = null;
    this.opened = 0;

    this.telemetry = new Telemetry({
      onSnapshot: (s) => this.onSnapshot(s),
      onState: (s) => this.onConnState(s),
      onOpen: () => this.onOpen(),
    });
    this.controls = new ControlsTab(this);
    this.logs = new LogsTab();
    this.grid = new GridTab(this);

    this.setupTabs();
    this.setupPresets();
    this.setupToggles();
    this.setupDevicePicker();
    this.setupToken();
    $("#iv-refresh").addEventListener("click", () => this.loadIv());
    $("#conn").addEventListener("click", () => this.telemetry.retryNow());
    window.addEventListener("resize", () => this.fitCharts());
  }

  async start() {
    await this.loadServerInfo();
    if (this.info && !this.hasDevice(this.device)) this.device = this.firstDevice();
    this.telemetry.connect(this.device);
    this.controls.setDevice(this.device, null);
    this.grid.setDevice(this.device);
    this.loadHistory();
  }

  // ------------------------------------------------------------ server info, devices
  async loadServerInfo() {
    const a = await get("/api/dersim/server-info");
    if (!a.ok) return;
    const info = a.body;
    const first = !this.info;
    const countChanged = !first && info.device_count !== this.info.device_count;
    this.info = info;
    setText($("#server-version"), `${info.name} ${info.version} · `);
    this.telemetry.setStaleAfter(info.periodic_time_s);
    if (first || countChanged) this.renderDevicePicker();
  }

  // a fleet shard serves the fleet's indices first_device .. first_device + device_count - 1
  firstDevice() {
    return this.info?.first_device || 0;
  }

  hasDevice(v) {
    const first = this.firstDevice();
    return Number.isInteger(v) && v >= first && v < first + (this.info?.device_count || 1);
  }

  setupDevicePicker() {
    $("#device-select").addEventListener("change", (e) => this.switchDevice(Number(e.target.value)));
    $("#device-number").addEventListener("change", (e) => {
      const v = Number(e.target.value);
      if (this.hasDevice(v)) this.switchDevice(v);
      else e.target.value = String(this.device);
    });
  }

  renderDevicePicker() {
    const count = this.info?.device_count || 1;
    const first = this.firstDevice();
    $("#device-picker").hidden = count <= 1;
    const sel = $("#device-select");
    const num = $("#device-number");
    if (count <= SELECT_MAX_DEVICES) {
      sel.hidden = false;
      num.hidden = true;
      sel.replaceChildren(
        ...Array.from({ length: count }, (_, k) => el("option", { value: first + k }, `#${first + k}`)),
      );
      sel.value = String(this.device);
    } else {
      sel.hidden = true;
      num.hidden = false;
      num.min = String(first);
      num.max = String(first + count - 1);
      num.value = String(this.device);
    }
  }

  deviceLabel(index) {
    const info = this.info;
    if (!info) return "";
    if (info.shard) {
      const last = info.first_device + info.device_count - 1;
      return ` · device ${index} (shard ${info.shard.index}: ${info.first_device}–${last} of ${info.shard.fleet_device_count})`;
    }
    return info.device_count > 1 ? ` · device ${index} of ${info.device_count}` : "";
  }

  switchDevice(device) {
    if (device === this.device) return;
    this.device = device;
    const url = new URL(location.href);
    url.searchParams.set("device", String(device));
    history.replaceState(null, "", url);
    $("#device-select").value = String(device);
    $("#device-number").value = String(device);
    this.last = null;
    this.store.clear();
    this.ivCurve = null;
    this.ivChart?.destroy();
    this.ivChart = null;
    this.historyLoadedFor = null;
    this.telemetry.connect(device);
    this.controls.setDevice(device, this.assetType);
    this.grid.setDevice(device);
    this.loadHistory();
    if (this.tab === "controls") this.controls.reload();
    if (this.tab === "overview" && this.hasIv()) this.loadIv();
    this.scheduleDraw();
  }

  setupToken() {
    const input = $("#api-token");
    input.value = apiToken();
    if (input.value) $("#token-box").hidden = false;
    input.addEventListener("change", () => setApiToken(input.value.trim()));
  }

  /** A 401 means the server wants a token: show the token box. */
  noteAuth(answer) {
    if (answer.status === 401) {
      $("#token-box").hidden = false;
      $("#api-token").focus();
    }
  }

  // ------------------------------------------------------------ connection
  onConnState({ state, text }) {
    const conn = $("#conn");
    conn.className = `conn conn-${state}`;
    conn.title = state === "reconnecting" ? "Click to retry now" : "";
    setText($("#conn-text"), text);
    document.body.classList.toggle("offline", state === "reconnecting");
  }

  onOpen() {
    this.opened += 1;
    if (this.opened === 1) return;
    // Back after a drop (maybe a restarted server): refresh facts and fill the chart gap.
    this.loadServerInfo();
    this.historyLoadedFor = null;
    this.loadHistory();
    if (this.tab === "controls") this.controls.reload();
    if (this.tab === "grid") this.grid.reload();
  }

  // ------------------------------------------------------------ snapshots
  onSnapshot(s) {
    if (s.device_index !== this.device) return;
    if (s.asset_type !== this.assetType) this.onAssetType(s);
    this.last = s;
    this.renderHeader(s);
    this.renderTiles(s);
    this.renderAsset(s);
    this.grid.onSnapshot(s);
    if (this.store.push(s)) this.scheduleDraw();
  }

  onAssetType(s) {
    this.assetType = s.asset_type;
    const key = KEY_DEFAULTS[s.asset_type] || "state_of_charge_pct";
    if (key !== this.store.keyName) {
      this.store.keyName = key;
      this.store.key = this.store.t.map(() => null);
    }
    this.buildAssetPanel(s.asset_type);
    this.controls.setDevice(this.device, s.asset_type);
    if (this.tab === "controls") this.controls.reload();
    this.rebuildKeyChart();
    $("#iv-card").hidden = !this.hasIv();
    if (this.hasIv() && this.tab === "overview") this.loadIv();
  }

  renderHeader(s) {
    setText($("#clock"), s.clock_time);
    setText($("#tick"), String(s.tick));
    setText($("#device-type"), `${s.device_type} · ${s.asset_type}${this.deviceLabel(s.device_index)}`);
    setText($("#device-profile"), s.device_profile_name ? ` · profile ${s.device_profile_name}` : "");
  }

  renderTiles(s) {
    const m = s.metrics;
    setText($("#v-p"), fmtPower(m.power_kw));
    setText($("#v-q"), fmtPower(m.reactive_power_kvar));
    setText($("#v-s"), fmtPower(m.apparent_power_kva));
    setText($("#v-pf"), fmtNum(m.power_factor, 3));
    setText($("#v-vll"), fmtNum(m.voltage_ll_v, 1));
    setText($("#v-vln"), fmtNum(m.voltage_ln_v, 1));
    setText($("#v-i"), fmtPower(m.current_a));
    setText($("#v-f"), fmtNum(m.frequency_hz, 3));
    setText($("#v-dcp"), fmtPower(m.dc_power_kw));
    setText($("#v-dcv"), fmtNum(m.dc_voltage_v, 1));
    setText($("#v-dci"), fmtPower(m.dc_current_a));
    for (const [id, kwh] of [["out", s.energy.injected_kwh], ["in", s.energy.absorbed_kwh]]) {
      const [value, unit] = fmtEnergy(kwh);
      setText($(`#v-energy-${id}`), value);
      setText($(`#u-energy-${id}`), unit);
    }

    const st = s.status;
    this.chip("#chip-service", `service: ${txt(st.service_state)}`,
      st.service_state === "in_service" ? "ok" : st.service_state === "entering_service" ? "warn" : "bad");
    const inv = st.inverter_state;
    this.chip("#chip-inverter", `inverter: ${txt(inv)}`,
      inv === "running" ? "ok" : inv === "fault" ? "bad" : inv === "off" ? "off" : "warn");
    this.chip("#chip-connection", `grid: ${st.connection_state}`, st.connection_state === "connected" ? "ok" : "bad");
    const msg = $("#chip-message");
    msg.hidden = !st.message;
    if (st.message) setText(msg, st.message);

    const tile = $("#tile-soc");
    const soc = m.state_of_charge_pct;
    tile.hidden = soc == null;
    $("#tiles").classList.toggle("has-soc", soc != null);
    if (soc != null) {
      setText($("#v-soc"), fmtNum(soc, 1));
      const pct = (v) => `${Math.max(0, Math.min(100, v))}%`;
      $("#soc-fill").style.left = pct(soc);
      const lo = m.soc_min_pct ?? 0;
      const hi = m.soc_max_pct ?? 100;
      $("#soc-limit-low").style.width = pct(lo);
      $("#soc-limit-high").style.width = pct(100 - hi);
      const rlo = m.soc_reserve_min_pct ?? lo;
      const rhi = m.soc_reserve_max_pct ?? hi;
      const band = $("#soc-reserve");
      band.style.left = pct(rlo);
      band.style.width = pct(rhi - rlo);
      setText($("#soc-legend"), `reserve ${fmtNum(rlo, 0)}–${fmtNum(rhi, 0)} % · limits ${fmtNum(lo, 0)}–${fmtNum(hi, 0)} %`);
      tile.classList.toggle("soc-outside", soc < rlo || soc > rhi);
    }
  }

  chip(selector, text, kind) {
    const node = $(selector);
    setText(node, text);
    const cls = `chip chip-${kind}`;
    if (node.className !== cls) node.className = cls;
  }

  buildAssetPanel(type) {
    const [title, fields] = ASSET_FIELDS[type] || ["Asset", []];
    setText($("#asset-title"), title);
    const kv = $("#asset-kv");
    kv.replaceChildren();
    this.assetCells = [];
    for (const [key, label, unit, format] of fields) {
      const dd = el("dd", { class: "mono" }, "–");
      const row = el("div", { class: "kv-row", "data-key": key },
        el("dt", {}, label, unit ? el("small", {}, ` ${unit}`) : null), dd);
      row.hidden = true;
      kv.append(row);
      this.assetCells.push([key, dd, format, row]);
    }
    $("#evse-connectors").hidden = type !== "evse";
  }

  renderAsset(s) {
    const a = s.asset || {};
    for (const [key, dd, format, row] of this.assetCells || []) {
      const present = key in a;
      if (row.hidden === present) row.hidden = !present;
      if (present) setText(dd, format(a[key]));
    }
    if (s.asset_type === "evse") this.renderConnectors(a.connectors || []);
  }

  renderConnectors(connectors) {
    const box = $("#evse-connectors");
    const rows = connectors.map((c) => el("tr", {},
      el("td", {}, String(c.id ?? "")), el("td", {}, c.kind || ""),
      el("td", {}, el("span", { class: `chip chip-${c.power_kw ? "ok" : "off"}` }, `${c.state}${c.status ? " · " + txt(c.status) : ""}`)),
      el("td", { class: "mono" }, c.ev_soc_pct == null ? "–" : `${fmtNum(c.ev_soc_pct, 1)} %`),
      el("td", { class: "mono" }, `${fmtNum(c.power_kw, 2)} kW`),
      el("td", { class: "mono" }, c.session_energy_kwh == null ? "–" : `${fmtNum(c.session_energy_kwh, 2)} kWh`)));
    box.replaceChildren(el("h3", {}, "Connectors"), el("table", { class: "table small" },
      el("thead", {}, el("tr", {}, ...["#", "kind", "state", "EV SoC", "power", "session"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows)));
  }

  // ------------------------------------------------------------ history and charts
  async loadHistory() {
    const device = this.device;
    const seconds = this.store.windowS;
    const id = ++this.historyRequest;
    const a = await get(`/api/dersim/history?seconds=${seconds}&device=${device}`);
    if (id !== this.historyRequest || device !== this.device) return; // superseded
    const note = $("#history-note");
    if (a.missing) {
      note.hidden = false;
      note.textContent = "History is not available on this server yet (/api/dersim/history answered 404): the chart starts with the live ticks since this page opened.";
      return;
    }
    if (!a.ok) {
      note.hidden = false;
      note.textContent = `Could not load history: ${a.error}`;
      return;
    }
    note.hidden = true;
    const h = a.body;
    if (h.key_quantity_name && h.key_quantity_name !== this.store.keyName) {
      this.store.keyName = h.key_quantity_name;
      this.rebuildKeyChart();
    }
    this.store.loadHistory(h);
    this.historyLoadedFor = seconds;
    this.scheduleDraw(true);
  }

  setupPresets() {
    for (const b of $("#window-presets").querySelectorAll("button")) {
      b.classList.toggle("active", Number(b.dataset.seconds) === this.store.windowS);
      b.setAttribute("aria-pressed", String(Number(b.dataset.seconds) === this.store.windowS));
      b.addEventListener("click", () => {
        const s = Number(b.dataset.seconds);
        for (const o of $("#window-presets").querySelectorAll("button")) {
          o.classList.toggle("active", o === b);
          o.setAttribute("aria-pressed", String(o === b));
        }
        const grow = s > this.store.windowS;
        this.store.windowS = s;
        this.prefs.windowS = s;
        savePrefs(this.prefs);
        if (grow) this.loadHistory();
        else this.store.trim();
        this.scheduleDraw(true);
      });
    }
  }

  /** The analytics chart that draws series `s`, and the series' index in it. */
  seriesSlot(s) {
    return [s.chart === "volt" ? this.voltChart : this.mainChart, chartSeries(s.chart).indexOf(s) + 1];
  }

  setupToggles() {
    const box = $("#metric-toggles");
    MAIN_SERIES.forEach((s) => {
      const on = !this.hidden.has(s.key);
      const b = el("button", { type: "button", class: `chip-toggle${on ? " on" : ""}`, "data-metric": s.key, "aria-pressed": String(on) },
        el("span", { class: "swatch", style: `background: var(--c-${s.key})` }), `${s.label} (${s.unit})`);
      b.addEventListener("click", () => {
        const show = this.hidden.has(s.key);
        if (show) this.hidden.delete(s.key);
        else this.hidden.add(s.key);
        b.classList.toggle("on", show);
        b.setAttribute("aria-pressed", String(show));
        this.prefs.hidden = [...this.hidden];
        savePrefs(this.prefs);
        const [chart, index] = this.seriesSlot(s);
        chart?.setSeries(index, { show });
        this.updateAxes();
      });
      box.append(b);
    });
  }

  /** Hide a y-axis whose series are all hidden. */
  updateAxes() {
    const shown = (scale) => MAIN_SERIES.some((s) => s.scale === scale && !this.hidden.has(s.key));
    for (const u of [this.mainChart, this.voltChart]) {
      if (!u) continue;
      let changed = false;
      for (const a of u.axes.slice(1)) {
        const want = shown(a.scale);
        if (a.show !== want) {
          a.show = want;
          changed = true;
        }
      }
      if (changed) u.redraw(false, true);
    }
  }

  ensureCharts() {
    const tz = this.info?.timezone;
    if (!this.store.length) return; // uPlot cannot lay out the axes of an empty chart
    if (this.tab === "analytics" && !this.mainChart) {
      this.mainChart = createMainChart($("#main-chart"), this.store, tz);
      this.voltChart = createVoltageChart($("#volt-chart"), this.store, tz);
      for (const s of MAIN_SERIES) {
        const [chart, index] = this.seriesSlot(s);
        if (this.hidden.has(s.key)) chart.setSeries(index, { show: false });
      }
      this.updateAxes();
    }
    if (this.tab === "analytics" && !this.keyChart) this.rebuildKeyChart();
    if (this.tab === "overview" && !this.miniChart) {
      this.miniChart = createMiniChart($("#mini-chart"), this.store, tz);
    }
    if (this.tab === "overview" && this.hasIv() && this.ivCurve && !this.ivChart) {
      // Created with its first curve: uPlot cannot lay out axes of an empty numeric chart.
      this.ivChart = createIvChart($("#iv-chart"), () => this.operatingPoint(), ivColumns(this.ivCurve));
    }
  }

  rebuildKeyChart() {
    const [label, unit] = keyLabel(this.store.keyName);
    setText($("#key-title"), `${label}${unit ? ` (${unit})` : ""}${this.store.keyName === "state_of_charge_pct" ? " — reserve band shaded" : ""}`);
    if (this.keyChart) {
      this.keyChart.destroy();
      this.keyChart = null;
    }
    if (this.tab !== "analytics" || !this.store.length) return;
    this.keyChart = createKeyChart($("#key-chart"), this.store, this.info?.timezone, () => this.socBands());
    this.scheduleDraw(true);
  }

  socBands() {
    if (this.store.keyName !== "state_of_charge_pct" || !this.last) return null;
    const m = this.last.metrics;
    return { min: m.soc_min_pct, max: m.soc_max_pct, resMin: m.soc_reserve_min_pct, resMax: m.soc_reserve_max_pct };
  }

  scheduleDraw(force = false) {
    if (force) this.lastDraw = 0;
    if (this.drawPending) return;
    this.drawPending = true;
    requestAnimationFrame(() => this.draw());
  }

  draw() {
    // At most ~4 redraws a second (1 a second for very long series); nothing while hidden.
    const now = performance.now();
    const minGap = this.store.length > 20000 ? 1000 : 250;
    if (now - this.lastDraw < minGap) {
      requestAnimationFrame(() => this.draw());
      return;
    }
    this.drawPending = false;
    this.lastDraw = now;
    this.ensureCharts();
    const lastT = this.store.lastT();
    if (this.tab === "analytics") {
      for (const [u, chart] of [[this.mainChart, "main"], [this.voltChart, "volt"]]) {
        if (u) u.setData(columnsFor(this.store, chartSeries(chart).map((s) => s.key)));
      }
      if (this.keyChart) this.keyChart.setData(columnsFor(this.store, ["key"]));
      const count = this.store.length;
      const span = count > 1 ? this.store.t[count - 1] - this.store.t[0] : 0;
      setText($("#chart-meta"), `${count} points · ${fmtDuration(span)} of ${fmtDuration(this.store.windowS)}`);
    } else if (this.tab === "overview") {
      if (this.miniChart && lastT != null) {
        this.miniChart.setData(columnsFor(this.store, ["p", "q", "s"]), false);
        const from = Math.max(this.store.t[0], lastT - Math.min(MINI_WINDOW_S, this.store.windowS));
        this.miniChart.setScale("x", { min: Math.min(from, lastT - 10), max: lastT });
      }
      if (this.ivChart) this.ivChart.redraw(false, false);
      this.renderIvMeta();
    }
  }

  fitCharts() {
    fit(this.mainChart, $("#main-chart"), 340);
    fit(this.voltChart, $("#volt-chart"), 200);
    fit(this.keyChart, $("#key-chart"), 200);
    fit(this.miniChart, $("#mini-chart"), 180);
    fit(this.ivChart, $("#iv-chart"), 260);
  }

  // ------------------------------------------------------------ DC I-V curve
  hasIv() {
    return this.assetType === "pv" || this.assetType === "hybrid-dc";
  }

  async loadIv() {
    const device = this.device;
    const a = await get(`/api/dersim/dc-iv?device=${device}`);
    if (device !== this.device) return;
    const note = $("#iv-note");
    if (!a.ok) {
      note.hidden = false;
      note.textContent = a.missing
        ? "The I-V curve is not available on this server yet (/api/dersim/dc-iv answered 404)."
        : `No I-V curve: ${a.error}`;
      $("#iv-chart").hidden = true;
      $("#iv-legend").hidden = true;
      return;
    }
    note.hidden = true;
    $("#iv-chart").hidden = false;
    $("#iv-legend").hidden = false;
    this.ivCurve = a.body;
    if (this.ivChart) this.renderIv();
    else this.ensureCharts();
    this.renderIvMeta();
  }

  renderIv() {
    if (this.ivCurve && this.ivChart) this.ivChart.setData(ivColumns(this.ivCurve));
    this.renderIvMeta();
  }

  operatingPoint() {
    const s = this.last;
    if (s && s.asset_type === "pv") return { v: s.metrics.dc_voltage_v, i: s.metrics.dc_current_a };
    if (s && s.asset_type === "hybrid-dc" && s.asset.pv_voltage_v != null) {
      return { v: s.asset.pv_voltage_v, i: s.asset.pv_current_a };
    }
    return this.ivCurve?.operating_point || null;
  }

  renderIvMeta() {
    const c = this.ivCurve;
    if (!c) return;
    const op = this.operatingPoint();
    setText($("#iv-op"), op && Number.isFinite(op.v) && Number.isFinite(op.i)
      ? `${fmtNum(op.v, 1)} V · ${fmtNum(op.i, 2)} A · ${fmtNum((op.v * op.i) / 1000, 2)} kW`
      : "–");
    const now = this.last?.asset?.irradiance_w_m2;
    let text = `curve at ${fmtNum(c.irradiance_w_m2, 0)} W/m², ${fmtNum(c.cell_temperature_c, 1)} °C`;
    if (typeof now === "number" && Math.abs(now - c.irradiance_w_m2) > Math.max(20, 0.1 * c.irradiance_w_m2)) {
      text += ` · irradiance now ${fmtNum(now, 0)} W/m²: refresh the curve`;
    }
    setText($("#iv-meta"), text);
  }

  // ------------------------------------------------------------ tabs
  setupTabs() {
    const tabs = [...document.querySelectorAll(".tab")];
    for (const t of tabs) t.addEventListener("click", () => this.showTab(t.dataset.tab));
    const initial = location.hash.slice(1);
    this.showTab(tabs.some((t) => t.dataset.tab === initial) ? initial : "overview", false);
  }

  showTab(name, updateHash = true) {
    this.tab = name;
    for (const t of document.querySelectorAll(".tab")) t.setAttribute("aria-selected", String(t.dataset.tab === name));
    for (const p of document.querySelectorAll(".tab-panel")) p.hidden = p.id !== `tab-${name}`;
    if (updateHash) history.replaceState(null, "", `${location.pathname}${location.search}#${name}`);
    this.logs.show(name === "logs");
    this.grid.show(name === "grid");
    if (name === "controls") this.controls.reload();
    if (name === "overview" && this.hasIv() && !this.ivCurve) this.loadIv();
    this.ensureCharts();
    this.fitCharts();
    this.scheduleDraw(true);
  }
}

function ivColumns(curve) {
  const pts = (curve.curve || []).slice().sort((x, y) => x.v - y.v);
  return [pts.map((p) => p.v), pts.map((p) => p.i), pts.map((p) => p.p / 1000)];
}

function fmtDuration(s) {
  if (s >= 3600) return `${(s / 3600).toFixed(s % 3600 ? 1 : 0)} h`;
  if (s >= 60) return `${Math.round(s / 60)} min`;
  return `${Math.round(s)} s`;
}

const dashboard = new Dashboard();
window.dersimDashboard = dashboard; // for tests and the curious
dashboard.start();
