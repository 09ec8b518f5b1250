// The admin's live room monitor: one table row per consult, updated over /monitor,
// and the probe call button.
import { io } from "/static/vendor/socket.io-4.8.4/socket.io.esm.min.js";

// Every sentence the page shows, together so that they are easy to translate.
const PHASES = {
  scheduled: "Not arrived", waiting: "Patient waiting", in_call: "In call", ended: "Ended",
  no_show_patient: "Patient no-show", no_show_provider: "Physiotherapist no-show",
  cancelled: "Cancelled", completed: "Ended",
};
const FLAGS = {
  waiting_long: "Waiting over 3 min", poor_quality: "Poor call quality",
  provider_no_show: "Physiotherapist did not join", probe: "Probe call",
};
const TEXT = {
  connected: "Live: updates arrive as they happen.",
  reconnecting: "Reconnecting…",
  unreachable: "Cannot reach the server; retrying.",
  present: (patient, physio) => `Patient ${patient} · Physio ${physio}`,
  healthPatient: (bits) => `Patient: ${bits}`,
  healthPhysio: (bits) => `Physio: ${bits}`,
  poor: "(poor)",
  loss: (pct) => `${pct}% loss`,
  endRoom: "End room",
  endRoomLabel: (room) => `End room of ${room.patient_name} with ${room.provider_name}`,
  endConfirm: (room) => `End the consult of ${room.patient_name} with ${room.provider_name}? Both will be told the clinic ended it.`,
  ended: (room) => `Ended the room of ${room.patient_name}.`,
  notEnded: (why) => `Could not end the room: ${why}`,
  noAnswer: "no answer from the server",
  noShow: (room) => `${room.provider_name} did not join ${room.patient_name}'s consult.`,
  probeRunning: (id) => `Probe call running (consult ${id}). This takes about half a minute…`,
  probeStarting: "Starting a probe call…",
  probeRefused: (why) => `The probe call could not start: ${why}`,
  probeNoProvider: "there is no active physiotherapist to run it with.",
  probeWorked: "The probe call worked: video and sound crossed both ways and the chat message arrived.",
  probeProblems: (list) => `The probe call found problems: ${list}.`,
  probeFailed: "The probe call could not finish. The details below say where it stopped.",
  probeVideoAfter: (seconds) => `Video appeared ${seconds} seconds after admission.`,
  details: "Details",
};
const TIMING_NAMES = {
  connect: "Connect", check_in: "Check-in", admit: "Admission",
  admit_to_first_frame_patient: "Admission to the patient's first video frame",
  admit_to_first_frame_provider: "Admission to the physiotherapist's first video frame",
  total: "Whole probe",
};
const COLUMNS = 10;

const table = document.getElementById("rooms");
const body = table.querySelector("tbody");
const labels = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
const status = document.getElementById("monitor-status");
const alerts = document.getElementById("monitor-alerts");
const empty = document.getElementById("monitor-empty");
const probeButton = document.getElementById("run-probe");
const probeResult = document.getElementById("probe-result");
const rooms = new Map();
let clockOffsetMs = 0;

// The clinic's clock, not the browser's: an admin travelling still reads Toronto time.
const clinicTime = new Intl.DateTimeFormat("en-CA", {
  hour: "numeric", minute: "2-digit", timeZone: table.dataset.timezone || "America/Toronto",
  timeZoneName: "short",
});

function serverNow() { return Date.now() + clockOffsetMs; }

function minutesSeconds(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

function localTime(iso) {
  return iso ? clinicTime.format(new Date(iso)) : "";
}

function healthText(health) {
  const parts = [];
  for (const side of ["patient", "provider"]) {
    const h = health && health[side];
    if (!h || !h.route) continue;
    const bits = [];
    if (h.rtt_ms) bits.push(`${Math.round(h.rtt_ms)} ms`);
    if (h.loss_pct) bits.push(TEXT.loss(Number(h.loss_pct).toFixed(1)));
    if (h.bitrate_kbps) bits.push(`${Math.round(h.bitrate_kbps)} kbps`);
    bits.push(h.route);
    const text = side === "patient" ? TEXT.healthPatient(bits.join(", ")) : TEXT.healthPhysio(bits.join(", "));
    parts.push({ text, poor: h.quality === "poor" });
  }
  return parts;
}

function cell(row, index) { return row.cells[index]; }

function newRow(consultId) {
  const row = body.insertRow();
  row.dataset.consult = consultId;
  row.setAttribute("role", "row");
  for (let i = 0; i < COLUMNS; i += 1) {
    const td = row.insertCell();
    td.setAttribute("role", "cell");
    if (labels[i]) td.dataset.label = labels[i];
  }
  return row;
}

function tags(container, names) {
  container.replaceChildren();
  for (const name of names) {
    const tag = document.createElement("span");
    tag.className = "flag";
    tag.textContent = FLAGS[name] || name;
    container.append(tag);
  }
}

function endButton(room) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button-danger button-small";
  button.textContent = TEXT.endRoom;
  button.setAttribute("aria-label", TEXT.endRoomLabel(room));
  button.addEventListener("click", () => endRoom(room, button));
  return button;
}

function render(room) {
  const row = body.querySelector(`tr[data-consult="${room.consult_id}"]`) || newRow(room.consult_id);
  rooms.set(room.consult_id, room);
  empty.hidden = true;
  cell(row, 0).textContent = localTime(room.starts_at);
  cell(row, 1).textContent = room.provider_name;
  cell(row, 2).textContent = room.patient_name;
  cell(row, 3).textContent = PHASES[room.phase] || room.phase;
  const devices = room.devices || {};
  cell(row, 4).textContent = TEXT.present(devices.patient || 0, devices.provider || 0);
  const health = cell(row, 7);
  health.replaceChildren();
  for (const part of healthText(room.health)) {
    const line = document.createElement("div");
    line.textContent = part.poor ? `${part.text} ${TEXT.poor}` : part.text;
    if (part.poor) line.className = "quality-poor";
    health.append(line);
  }
  const flags = [...(room.flags || []), ...(room.probe ? ["probe"] : [])];
  tags(cell(row, 8), flags);
  if ((room.flags || []).length) row.dataset.flagged = "true"; else delete row.dataset.flagged;
  const actions = cell(row, 9);
  actions.replaceChildren();
  if (room.phase === "waiting" || room.phase === "in_call") actions.append(endButton(room));
  if ((room.flags || []).includes("provider_no_show")) alerts.textContent = TEXT.noShow(room);
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
  if (!window.confirm(TEXT.endConfirm(room))) return;
  button.disabled = true;
  const ack = await socket.timeout(10000).emitWithAck("end_room", { consult_id: room.consult_id }).catch(() => null);
  status.textContent = ack && ack.ok ? TEXT.ended(room) : TEXT.notEnded(ack && ack.error ? ack.error.message : TEXT.noAnswer);
  button.disabled = false;
}

// --- the probe call ---------------------------------------------------------------------

function paragraph(text) {
  const p = document.createElement("p");
  p.textContent = text;
  return p;
}

function probeDetails(result) {
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = TEXT.details;
  const list = document.createElement("dl");
  list.className = "details";
  const add = (term, value) => {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  };
  for (const [key, seconds] of Object.entries(result.timings || {})) {
    add(TIMING_NAMES[key] || key, `${Number(seconds).toFixed(2)} s`);
  }
  for (const [key, count] of Object.entries(result.frames || {})) add(key.replaceAll("_", " "), String(count));
  if (result.error) add("Error", result.error);
  if (result.consult_id) add("Consult", String(result.consult_id));
  details.append(summary, list);
  return details;
}

function showProbe(result) {
  probeButton.disabled = false;
  probeButton.removeAttribute("aria-busy");
  const lines = [];
  if (result.ok) {
    lines.push(paragraph(TEXT.probeWorked));
    const seconds = result.timings && result.timings.admit_to_first_frame_patient;
    if (seconds) lines.push(paragraph(TEXT.probeVideoAfter(Number(seconds).toFixed(1))));
  } else if (result.problems && result.problems.length) {
    lines.push(paragraph(TEXT.probeProblems(result.problems.join("; "))));
  } else {
    lines.push(paragraph(TEXT.probeFailed));
  }
  probeResult.dataset.outcome = result.ok ? "ok" : "failed";
  probeResult.replaceChildren(...lines, probeDetails(result));
}

async function runProbe() {
  probeButton.disabled = true;
  probeButton.setAttribute("aria-busy", "true");
  delete probeResult.dataset.outcome;
  probeResult.replaceChildren(paragraph(TEXT.probeStarting));
  const ack = await socket.timeout(10000).emitWithAck("run_probe", {}).catch(() => null);
  if (!ack || !ack.ok) {
    probeButton.disabled = false;
    probeButton.removeAttribute("aria-busy");
    const code = ack && ack.error ? ack.error.code : "";
    const why = code === "no_provider" ? TEXT.probeNoProvider : (ack && ack.error && ack.error.message) || TEXT.noAnswer;
    probeResult.replaceChildren(paragraph(TEXT.probeRefused(why)));
    return;
  }
  probeResult.replaceChildren(paragraph(TEXT.probeRunning(ack.consult_id)));
}

// --- the socket -------------------------------------------------------------------------

const socket = io("/monitor", {
  transports: ["websocket"], reconnectionDelay: 500, reconnectionDelayMax: 5000, randomizationFactor: 0.5,
});
socket.on("connect", () => { status.textContent = TEXT.connected; });
socket.on("disconnect", () => { status.textContent = TEXT.reconnecting; });
socket.on("connect_error", (error) => {
  status.textContent = (error && error.data && error.data.message) || TEXT.unreachable;
});
socket.on("rooms", (payload) => {
  body.replaceChildren();
  rooms.clear();
  empty.hidden = payload.rooms.length > 0;
  for (const room of payload.rooms) {
    clockOffsetMs = Date.parse(room.server_time) - Date.now();
    render(room);
  }
});
socket.on("room", (room) => {
  clockOffsetMs = Date.parse(room.server_time) - Date.now();
  render(room);
});
socket.on("probe_result", showProbe);
probeButton.addEventListener("click", runProbe);
setInterval(tick, 1000);
