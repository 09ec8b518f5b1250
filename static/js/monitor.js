// The admin's live room monitor: one table row per consult, updated over /monitor,
// and the probe call button.
import { io } from "/static/vendor/socket.io-4.8.4/socket.io.esm.min.js";
import { clinicFormat, has, lang, t } from "./strings.js";

// Every sentence comes from the page (admin/monitor.html), in the page's language.
const PHASES = new Set([
  "scheduled", "waiting", "in_call", "ended", "no_show_patient", "no_show_provider", "cancelled", "completed",
]);
const FLAGS = new Set(["waiting_long", "poor_quality", "provider_no_show", "probe"]);
const REFUSALS = new Set(["already_ended", "unauthorized", "rate_limited"]);
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
const clinicTime = clinicFormat({ hour: "numeric", minute: "2-digit", timeZoneName: "short" });
const decimal = (value, digits) => new Intl.NumberFormat(lang(), {
  minimumFractionDigits: digits, maximumFractionDigits: digits,
}).format(value);

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
    if (h.loss_pct) bits.push(t("monitor.loss", { percent: decimal(Number(h.loss_pct), 1) }));
    if (h.bitrate_kbps) bits.push(`${Math.round(h.bitrate_kbps)} kbps`);
    bits.push(h.route);
    const figures = bits.join(", ");
    const text = t(side === "patient" ? "monitor.healthPatient" : "monitor.healthPhysio", { figures });
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
    tag.textContent = FLAGS.has(name) ? t(`monitor.flag.${name}`) : name;
    container.append(tag);
  }
}

function endButton(room) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button-danger button-small";
  button.textContent = t("monitor.endRoom");
  button.setAttribute("aria-label", t("monitor.endRoomLabel", people(room)));
  button.addEventListener("click", () => endRoom(room, button));
  return button;
}

function people(room) {
  return { patient: room.patient_name, physio: room.provider_name };
}

function render(room) {
  const row = body.querySelector(`tr[data-consult="${room.consult_id}"]`) || newRow(room.consult_id);
  rooms.set(room.consult_id, room);
  empty.hidden = true;
  cell(row, 0).textContent = localTime(room.starts_at);
  cell(row, 1).textContent = room.provider_name;
  cell(row, 2).textContent = room.patient_name;
  cell(row, 3).textContent = PHASES.has(room.phase) ? t(`monitor.phase.${room.phase}`) : room.phase;
  const devices = room.devices || {};
  cell(row, 4).textContent = t("monitor.present", { patient: devices.patient || 0, physio: devices.provider || 0 });
  const health = cell(row, 7);
  health.replaceChildren();
  for (const part of healthText(room.health)) {
    const line = document.createElement("div");
    line.textContent = part.poor ? `${part.text} ${t("monitor.poor")}` : part.text;
    if (part.poor) line.className = "quality-poor";
    health.append(line);
  }
  const flags = [...(room.flags || []), ...(room.probe ? ["probe"] : [])];
  tags(cell(row, 8), flags);
  if ((room.flags || []).length) row.dataset.flagged = "true"; else delete row.dataset.flagged;
  const actions = cell(row, 9);
  actions.replaceChildren();
  if (room.phase === "waiting" || room.phase === "in_call") actions.append(endButton(room));
  if ((room.flags || []).includes("provider_no_show")) alerts.textContent = t("monitor.noShow", people(room));
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
  if (!window.confirm(t("monitor.endConfirm", people(room)))) return;
  button.disabled = true;
  const ack = await socket.timeout(10000).emitWithAck("end_room", { consult_id: room.consult_id }).catch(() => null);
  status.textContent = ack && ack.ok
    ? t("monitor.ended", people(room)) : t("monitor.notEnded", { reason: refusal(ack) });
  button.disabled = false;
}

// Why the server said no, in the page's words (the server's own words are English).
function refusal(ack) {
  if (!ack) return t("monitor.noAnswer");
  const code = ack.error ? ack.error.code : "";
  return REFUSALS.has(code) ? t(`monitor.refusal.${code}`) : t("monitor.refusal.other");
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
  summary.textContent = t("monitor.details");
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
    const name = has(`monitor.timing.${key}`) ? t(`monitor.timing.${key}`) : key;
    add(name, t("monitor.seconds", { seconds: decimal(Number(seconds), 2) }));
  }
  for (const [key, count] of Object.entries(result.frames || {})) {
    add(has(`monitor.frames.${key}`) ? t(`monitor.frames.${key}`) : key, String(count));
  }
  if (result.error) add(t("monitor.error"), result.error);
  if (result.consult_id) add(t("monitor.consult"), String(result.consult_id));
  details.append(summary, list);
  return details;
}

// What failed, from the frames each side received (the worker's own list is in English).
function probeProblems(result) {
  const found = [];
  for (const side of ["patient", "provider"]) {
    for (const kind of ["video", "audio"]) {
      if (!(result.frames || {})[`${side}_${kind}_frames`]) found.push(t(`monitor.problem.${side}.${kind}`));
    }
  }
  if ((result.problems || []).length > found.length) found.push(t("monitor.problem.chat"));
  return found;
}

function showProbe(result) {
  probeButton.disabled = false;
  probeButton.removeAttribute("aria-busy");
  const lines = [];
  if (result.ok) {
    lines.push(paragraph(t("monitor.probeWorked")));
    const seconds = result.timings && result.timings.admit_to_first_frame_patient;
    if (seconds) lines.push(paragraph(t("monitor.probeVideoAfter", { seconds: decimal(Number(seconds), 1) })));
  } else if (result.problems && result.problems.length) {
    lines.push(paragraph(t("monitor.probeProblems", { problems: probeProblems(result).join("; ") })));
  } else {
    lines.push(paragraph(t("monitor.probeFailed")));
  }
  probeResult.dataset.outcome = result.ok ? "ok" : "failed";
  probeResult.replaceChildren(...lines, probeDetails(result));
}

async function runProbe() {
  probeButton.disabled = true;
  probeButton.setAttribute("aria-busy", "true");
  delete probeResult.dataset.outcome;
  probeResult.replaceChildren(paragraph(t("monitor.probeStarting")));
  const ack = await socket.timeout(10000).emitWithAck("run_probe", {}).catch(() => null);
  if (!ack || !ack.ok) {
    probeButton.disabled = false;
    probeButton.removeAttribute("aria-busy");
    const code = ack && ack.error ? ack.error.code : "";
    const reason = code === "no_provider" ? t("monitor.probeNoProvider") : refusal(ack);
    probeResult.replaceChildren(paragraph(t("monitor.probeRefused", { reason })));
    return;
  }
  probeResult.replaceChildren(paragraph(t("monitor.probeRunning", { number: ack.consult_id })));
}

// --- the socket -------------------------------------------------------------------------

const socket = io("/monitor", {
  transports: ["websocket"], reconnectionDelay: 500, reconnectionDelayMax: 5000, randomizationFactor: 0.5,
});
socket.on("connect", () => { status.textContent = t("monitor.connected"); });
socket.on("disconnect", () => { status.textContent = t("monitor.reconnecting"); });
socket.on("connect_error", (error) => {
  const code = error && error.data ? error.data.code : "";
  status.textContent = t(code === "unauthorized" ? "monitor.adminsOnly" : "monitor.unreachable");
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
// The rooms that changed in the last second or so (each web process sends its own).
socket.on("rooms_update", (payload) => {
  for (const room of payload.rooms) {
    clockOffsetMs = Date.parse(room.server_time) - Date.now();
    render(room);
  }
});
socket.on("probe_result", showProbe);
probeButton.addEventListener("click", runProbe);
setInterval(tick, 1000);
