// The admin's live room monitor: one table row per consult, updated over /monitor.
import { io } from "/static/vendor/socket.io-4.8.4/socket.io.esm.min.js";

const PHASES = {
  scheduled: "Not arrived", waiting: "Patient waiting", in_call: "In call", ended: "Ended",
  no_show_patient: "Patient no-show", no_show_provider: "Physiotherapist no-show",
  cancelled: "Cancelled", completed: "Ended",
};
const FLAGS = {
  waiting_long: "Waiting over 3 min", poor_quality: "Poor call quality",
  provider_no_show: "Physiotherapist did not join",
};

const body = document.querySelector("#rooms tbody");
const status = document.getElementById("monitor-status");
const alerts = document.getElementById("monitor-alerts");
const rooms = new Map();
let clockOffsetMs = 0;

function serverNow() { return Date.now() + clockOffsetMs; }

function minutesSeconds(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

function localTime(iso) {
  return iso ? new Date(iso).toLocaleTimeString("en-CA", { hour: "numeric", minute: "2-digit", timeZone: "America/Toronto" }) : "";
}

function healthText(health) {
  const parts = [];
  for (const side of ["patient", "provider"]) {
    const h = health && health[side];
    if (!h || !h.route) continue;
    const bits = [];
    if (h.rtt_ms) bits.push(`${Math.round(h.rtt_ms)} ms`);
    if (h.loss_pct) bits.push(`${Number(h.loss_pct).toFixed(1)}% loss`);
    if (h.bitrate_kbps) bits.push(`${Math.round(h.bitrate_kbps)} kbps`);
    bits.push(h.route);
    parts.push({ side, text: `${side === "patient" ? "Patient" : "Physio"}: ${bits.join(", ")}`, poor: h.quality === "poor" });
  }
  return parts;
}

function cell(row, index) { return row.cells[index]; }

function render(room) {
  let row = body.querySelector(`tr[data-consult="${room.consult_id}"]`);
  if (!row) {
    row = body.insertRow();
    row.dataset.consult = room.consult_id;
    for (let i = 0; i < 10; i += 1) row.insertCell();
  }
  rooms.set(room.consult_id, room);
  cell(row, 0).textContent = localTime(room.starts_at);
  cell(row, 1).textContent = room.provider_name;
  cell(row, 2).textContent = room.patient_name;
  cell(row, 3).textContent = PHASES[room.phase] || room.phase;
  const devices = room.devices || {};
  cell(row, 4).textContent = `Patient ${devices.patient || 0} · Physio ${devices.provider || 0}`;
  const health = cell(row, 7);
  health.replaceChildren();
  for (const part of healthText(room.health)) {
    const line = document.createElement("div");
    line.textContent = part.text + (part.poor ? " (poor)" : "");
    if (part.poor) line.className = "quality-poor";
    health.append(line);
  }
  const flags = cell(row, 8);
  flags.replaceChildren();
  for (const flag of room.flags || []) {
    const tag = document.createElement("span");
    tag.className = "flag";
    tag.textContent = FLAGS[flag] || flag;
    flags.append(tag);
  }
  if ((room.flags || []).length) row.dataset.flagged = "true"; else delete row.dataset.flagged;
  const actions = cell(row, 9);
  actions.replaceChildren();
  if (room.phase === "waiting" || room.phase === "in_call") {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button-danger button-small";
    button.textContent = "End room";
    button.setAttribute("aria-label", `End room of ${room.patient_name} with ${room.provider_name}`);
    button.addEventListener("click", () => endRoom(room, button));
    actions.append(button);
  }
  if ((room.flags || []).includes("provider_no_show")) {
    alerts.textContent = `${room.provider_name} did not join ${room.patient_name}'s consult.`;
  }
  tick();
}

function tick() {
  const now = serverNow();
  for (const row of body.rows) {
    const room = rooms.get(Number(row.dataset.consult));
    if (!room) continue;
    cell(row, 5).textContent = room.phase === "waiting" && room.checked_in_at
      ? minutesSeconds(now - Date.parse(room.checked_in_at)) : "";
    cell(row, 6).textContent = room.phase === "in_call" && room.call_ends_at
      ? minutesSeconds(Date.parse(room.call_ends_at) - now) : "";
  }
}

async function endRoom(room, button) {
  if (!window.confirm(`End the consult of ${room.patient_name} with ${room.provider_name}? Both will be told the clinic ended it.`)) return;
  button.disabled = true;
  const ack = await socket.timeout(10000).emitWithAck("end_room", { consult_id: room.consult_id }).catch(() => null);
  status.textContent = ack && ack.ok ? `Ended the room of ${room.patient_name}.` : `Could not end the room: ${ack && ack.error ? ack.error.message : "no answer"}`;
  button.disabled = false;
}

const socket = io("/monitor", {
  transports: ["websocket"], reconnectionDelay: 500, reconnectionDelayMax: 5000, randomizationFactor: 0.5,
});
socket.on("connect", () => { status.textContent = "Live: updates arrive as they happen."; });
socket.on("disconnect", () => { status.textContent = "Reconnecting…"; });
socket.on("connect_error", (error) => {
  status.textContent = (error && error.data && error.data.message) || "Cannot reach the server; retrying.";
});
socket.on("rooms", (payload) => {
  body.replaceChildren();
  rooms.clear();
  for (const room of payload.rooms) {
    clockOffsetMs = Date.parse(room.server_time) - Date.now();
    render(room);
  }
});
socket.on("room", (room) => {
  clockOffsetMs = Date.parse(room.server_time) - Date.now();
  render(room);
});
setInterval(tick, 1000);
