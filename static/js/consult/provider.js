// The physiotherapist's consult page: the patient panel (who, why, where, how to reach them,
// consent; it stays during the call), the lobby (admit checklist, running late, arrival
// alerts) and the call.
import { ArrivalAlerts } from "./alerts.js";
import { startDevicePanel } from "./devices.js";
import { Goniometer } from "./goniometer-ui.js";
import { PatientPanel } from "./patient-panel.js";
import { Room } from "./room.js";
import { byId, parseTime, setText, setVisible } from "./ui.js";
import { clinicFormat, has, plural, t } from "../strings.js";

const room = new Room({
  role: "provider",
  views: ["lobby", "call"],
  chatSlots: { lobby: "lobby-chat-slot", call: "call-chat-slot" },
});
const patientName = room.root.dataset.patientName || t("provider.thePatient");

const devices = startDevicePanel(room.media);

const alerts = new ArrivalAlerts({
  button: byId("alerts-button"),
  status: byId("alerts-status"),
  banner: byId("arrival-alert"),
  patientName,
  consultId: room.consultId,
});

room.views.onChange((name) => {
  if (name === "lobby") {
    devices.startMeter();
  } else {
    devices.stopMeter();
    alerts.update(false);
  }
});

// -- measuring a joint angle on a frozen frame (the picture never leaves this browser) -------

const goniometer = new Goniometer({
  video: byId("remote-video"),
  onActiveChange: (active) => room.request("measuring", { active }),
});
goniometer.place(room.views.current === "call");
room.views.onChange((name) => goniometer.place(name === "call"));
// A reconnected socket, or a patient page that (re)joined: it must still hear that the frame
// is frozen.
for (const event of ["connect", "peer_back", "device_switched"]) {
  room.socket.on(event, () => {
    if (goniometer.active) room.request("measuring", { active: true });
  });
}

// -- presence and check-in answers ------------------------------------------------------

const presence = byId("patient-presence");
const precheck = byId("precheck");
// The clinic's time, with its zone, whatever the zone of this computer.
const clinicClock = clinicFormat({ hour: "numeric", minute: "2-digit", timeZoneName: "short" });

function clinicTime(iso) {
  const ms = parseTime(iso);
  return Number.isFinite(ms) ? clinicClock.format(ms) : "";
}

function patientDevices(state) {
  return state.presence && Array.isArray(state.presence.patient) ? state.presence.patient : [];
}

function renderPresence(state) {
  const open = patientDevices(state);
  const names = open.map((device) => device && device.device).filter(Boolean);
  const counted = plural("provider.devices", open.length);
  const devicesText = names.length ? t("provider.devicesNamed", { devices: counted, names: names.join(", ") }) : counted;
  let kind;
  let text;
  if (state.phase === "scheduled") {
    kind = open.length ? "checking" : "absent";
    text = open.length ? t("provider.arrived", { devices: devicesText }) : t("provider.notArrived");
  } else if (state.phase === "waiting") {
    const since = clinicTime(state.checked_in_at);
    kind = open.length ? "waiting" : "left";
    text = open.length
      ? since
        ? t("provider.waitingSince", { time: since, devices: devicesText })
        : t("provider.waitingMoment", { devices: devicesText })
      : since
        ? t("provider.leftAt", { time: since })
        : t("provider.left");
  } else {
    kind = "in-call";
    text = t("provider.inCall");
  }
  presence.dataset.presence = kind;
  setText(presence, text);

  const check = state.precheck;
  if (check && typeof check === "object" && check.verdict) {
    // Notes come from Redis as strings: "12.0" is a number here too.
    const rttMs = Number(check.rtt_ms);
    const key = `provider.verdict.${check.verdict}`;
    const verdict = has(key) ? t(key) : String(check.verdict);
    const measured = check.rtt_ms !== undefined && Number.isFinite(rttMs);
    setText(
      precheck,
      measured
        ? t("provider.precheckRtt", { verdict, ms: Math.round(rttMs) })
        : t("provider.precheck", { verdict }),
    );
    setVisible(precheck, true);
  } else {
    setVisible(precheck, false);
  }
}

const answerCells = {
  location: byId("answer-location"),
  inOntario: byId("answer-in-ontario"),
  emergency: byId("answer-emergency-phone"),
  consent: byId("answer-consent"),
};
const ANSWERS = { yes: t("provider.yes"), no: t("provider.no"), notGiven: t("provider.notGiven") };

/** 905-555-0100 for a North American number; other numbers as given. */
function readablePhone(phone) {
  let digits = phone.replace(/\D/g, "");
  if (digits.length === 11 && digits.startsWith("1")) digits = digits.slice(1);
  if (digits.length !== 10) return phone;
  return `${digits.slice(0, 3)}-${digits.slice(3, 6)}-${digits.slice(6)}`;
}

function showMissing(cell) {
  setText(cell, cell.dataset.missing || "");
}

function renderChecklist(state) {
  const checklist = state.checklist;
  if (!checklist || typeof checklist !== "object") {
    Object.values(answerCells).forEach(showMissing);
    return;
  }
  setText(answerCells.location, checklist.location || ANSWERS.notGiven);
  // The protocol says a boolean; accept "yes"/"no" strings too (Redis stores text).
  const inOntario = String(checklist.in_ontario).toLowerCase();
  setText(
    answerCells.inOntario,
    ["true", "yes"].includes(inOntario) ? ANSWERS.yes : ["false", "no"].includes(inOntario) ? ANSWERS.no : ANSWERS.notGiven,
  );
  const phone = typeof checklist.emergency_phone === "string" ? checklist.emergency_phone : "";
  const cell = answerCells.emergency;
  if (phone) {
    const shown = readablePhone(phone);
    if (cell.textContent !== shown || !cell.querySelector("a")) {
      const link = document.createElement("a");
      link.href = `tel:${phone.replace(/[^\d+]/g, "")}`;
      link.textContent = shown;
      cell.replaceChildren(link);
    }
  } else {
    setText(cell, ANSWERS.notGiven);
  }
  // Check-in cannot be completed without the consent box, so answers mean it was given.
  setText(answerCells.consent, answerCells.consent.dataset.given || "");
}

// -- admit --------------------------------------------------------------------------------

const admitForm = byId("admit-form");
const admitButton = byId("admit-button");
const admitReason = byId("admit-reason");
const admitError = byId("admit-error");
const checks = {
  identity_confirmed: byId("confirm-identity"),
  location_confirmed: byId("confirm-location"),
  emergency_contact_confirmed: byId("confirm-emergency"),
};
let admitting = false;

function canAdmit() {
  const phase = room.state && room.state.phase;
  return phase === "waiting" && Object.values(checks).every((box) => box.checked) && !admitting;
}

function renderAdmit() {
  const phase = room.state && room.state.phase;
  const ticked = Object.values(checks).every((box) => box.checked);
  let reason;
  if (admitting) reason = t("provider.admitting", { name: patientName });
  else if (phase !== "waiting") reason = t("provider.notCheckedIn", { name: patientName });
  else if (!ticked) reason = t("provider.tickAll");
  else reason = t("provider.ready", { name: patientName });
  admitButton.setAttribute("aria-disabled", String(!canAdmit()));
  setText(admitReason, reason);
}

for (const box of Object.values(checks)) {
  box.addEventListener("change", () => {
    setText(admitError, "");
    renderAdmit();
  });
}

admitForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!canAdmit()) {
    if (!admitting) setText(admitError, admitReason.textContent);
    return;
  }
  admitting = true;
  setText(admitError, "");
  renderAdmit();
  const ack = await room.request("admit", {
    identity_confirmed: true,
    location_confirmed: true,
    emergency_contact_confirmed: true,
  });
  admitting = false;
  renderAdmit();
  if (!ack.ok) {
    const fields = ack.fields && typeof ack.fields === "object" ? Object.values(ack.fields) : [];
    const detail = fields.filter((item) => typeof item === "string" && item.includes(" "));
    setText(admitError, [ack.error.message, ...new Set(detail)].join(" "));
  }
  // On success the server's `state` (phase in_call) opens the call.
});

// -- running late ---------------------------------------------------------------------------

const lateButtons = [...document.querySelectorAll("[data-late-minutes]")];
const lateStatus = byId("late-status");

function renderLate(state) {
  const allowed = state.phase === "scheduled" || state.phase === "waiting";
  const minutes = Number(state.running_late_minutes) || 0;
  for (const button of lateButtons) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.lateMinutes) === minutes));
    button.setAttribute("aria-disabled", String(!allowed));
  }
  setText(lateStatus, minutes ? t("provider.lateStatus", { name: patientName, minutes }) : "");
}

for (const button of lateButtons) {
  button.addEventListener("click", async () => {
    if (button.getAttribute("aria-disabled") === "true") return;
    const minutes = Number(button.dataset.lateMinutes);
    const ack = await room.request("running_late", { minutes });
    if (!ack.ok) setText(lateStatus, ack.error.message);
  });
}

// -- the patient's other device ------------------------------------------------------------

const newDevice = byId("patient-new-device");
const switchButton = byId("switch-device-button");
const switchError = byId("switch-device-error");

function renderNewDevice(state) {
  // Only the physiotherapist's page in the call may move the patient.
  const waiting = state.patient_device_waiting === true && state.this_device !== "standby";
  setVisible(newDevice, waiting);
  if (!waiting) setText(switchError, "");
}

switchButton?.addEventListener("click", async () => {
  setText(switchError, "");
  const ack = await room.request("switch_device", { side: "patient" });
  if (!ack.ok) setText(switchError, ack.error.message);
});

// -- state ------------------------------------------------------------------------------------

let wasWaiting = null; // unknown until the first state

const patientPanel = new PatientPanel(room);

room.onState((state) => {
  patientPanel.setServerTime(state.server_time);
  patientPanel.render();
  renderPresence(state);
  renderChecklist(state);
  renderAdmit();
  renderLate(state);
  renderNewDevice(state);

  const waiting = state.phase === "waiting" && patientDevices(state).length > 0;
  if (room.views.current === "lobby") {
    // Sound and desktop notification for a new arrival only, not for a page (re)load.
    alerts.update(waiting, { announce: waiting && wasWaiting === false });
  }
  wasWaiting = waiting;
});
