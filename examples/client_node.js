const WebSocket = require("ws");
const ws = new WebSocket("ws://localhost:8111/api/dersim/ws/telemetry?device=0");

ws.on("open", () => console.log("connected"));
ws.on("message", (raw) => {
  const payload = JSON.parse(raw);
  console.log(`${payload.clock_time}: ${payload.metrics.power_kw.toFixed(2)} kW`);
});
