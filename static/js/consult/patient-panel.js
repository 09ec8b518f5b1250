// The physiotherapist's patient panel: open beside the lobby and the call on wide screens,
// a closed disclosure on narrow ones; how long the patient has been expected; and "Mark
// no-show" offered only once the no-show wait is over and the patient is not there.
import { askBeforeNoShow } from "../staff/no-show.js";
import { byId, parseTime, setText, setVisible } from "./ui.js";

const NARROW = "(max-width: 47.99rem)";
const TICK_MS = 1000;

function fill(template, values) {
  return String(template || "").replace(/\{(\w+)\}/g, (whole, key) => (key in values ? values[key] : whole));
}

/** Wide screens show the panel open; narrow ones start with it closed (one tap opens it). */
function followScreenWidth(details) {
  if (!details || !window.matchMedia) return;
  const narrow = window.matchMedia(NARROW);
  const fit = () => {
    details.open = !narrow.matches;
  };
  fit();
  narrow.addEventListener("change", fit);
}

/** "Starts in 3 minutes", "Expected now", "Expected 4 minutes ago", or "" when far off. */
export function expectedText(element, startsAt, now) {
  const early = (startsAt - now) / 60000;
  const data = element.dataset;
  if (early > 60) return "";
  if (early > 0) {
    const count = Math.ceil(early);
    return count === 1 ? data.soonOne : fill(data.soonMany, { count });
  }
  const late = Math.floor(-early);
  if (late < 1) return data.now;
  return late === 1 ? data.lateOne : fill(data.lateMany, { count: late });
}

export class PatientPanel {
  constructor(room) {
    this.room = room;
    this.expected = byId("patient-expected");
    this.hint = byId("no-show-hint");
    this.noShow = document.querySelector("#patient-panel form[data-no-show]");
    const data = this.expected.dataset;
    this.startsAt = parseTime(data.startsAt);
    this.noShowAt = parseTime(data.noShowAt);
    this.offset = parseTime(data.serverNow) - Date.now() || 0; // server clock minus ours
    followScreenWidth(byId("patient-details"));
    // The form's answer (the dashboard) is where the physiotherapist goes next: the room
    // must not follow the consult's end to the outcome page meanwhile.
    askBeforeNoShow({
      beforeSubmit: () => {
        room.finished = true;
      },
    });
    this.render();
    window.setInterval(() => this.render(), TICK_MS);
  }

  /** Follow the server's clock: the offer must not appear before the server would accept it. */
  setServerTime(iso) {
    const server = parseTime(iso);
    if (Number.isFinite(server)) this.offset = server - Date.now();
  }

  render() {
    const state = this.room.state;
    const phase = state ? state.phase : "scheduled";
    const devices = state && state.presence && Array.isArray(state.presence.patient) ? state.presence.patient : [];
    const away = devices.length === 0;
    const open = phase === "scheduled" || phase === "waiting";
    const now = Date.now() + this.offset;
    const notArrived = phase === "scheduled" && away;
    const text = notArrived ? expectedText(this.expected, this.startsAt, now) : "";
    setText(this.expected, text);
    setVisible(this.expected, Boolean(text));
    // Only with a known state: a patient already waiting must never see the offer flash by.
    const due = Boolean(state) && open && away && now >= this.noShowAt;
    setVisible(this.noShow, due);
    setVisible(this.hint, open && away && !due);
  }
}
