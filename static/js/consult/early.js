// Before the waiting room opens: the consult's time where the patient is (when it differs
// from the clinic's), a live countdown, and the waiting room by itself when it opens. The
// page reloads /consult: the session cookie already holds the consult, so no credential
// ever comes back into the address bar.
import { formatRemaining } from "./countdown.js";
import { announce, byId, parseTime, setText, setVisible } from "./ui.js";
import { lang, plural, t } from "../strings.js";

const TEXT = {
  local: (when, zone) => t("early.local", { when, zone }),
  days: (days, hours) => t("early.daysHours", { days: plural("early.days", days), hours: plural("early.hours", hours) }),
  hours: (hours, minutes) =>
    t("early.hoursMinutes", { hours: plural("early.hours", hours), minutes: plural("early.minutes", minutes) }),
  opening: t("early.opening"),
};
const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
// A clock a little ahead of the server's must not reload into this page over and over.
const RELOAD_SLACK_MS = 1000;

const page = byId("early");
const countdown = byId("early-countdown");
const status = byId("early-status");
const opensAt = parseTime(page.dataset.opensAt);
const startsAt = parseTime(page.dataset.startsAt);
const offsetMs = parseTime(page.dataset.serverNow) - Date.now() || 0;
const clinicZone = page.dataset.clinicZone;

function serverNow() {
  return Date.now() + offsetMs;
}

/** The start in the browser's own time zone, shown only when that zone's clock differs. */
function showLocalTime() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone || !Number.isFinite(startsAt)) return;
  const options = { weekday: "long", month: "long", day: "numeric", hour: "numeric", minute: "2-digit" };
  const here = new Intl.DateTimeFormat(lang(), { ...options, timeZone: zone, timeZoneName: "short" });
  const clinic = new Intl.DateTimeFormat(lang(), { ...options, timeZone: clinicZone });
  const mine = new Intl.DateTimeFormat(lang(), { ...options, timeZone: zone });
  if (mine.format(startsAt) === clinic.format(startsAt)) return;
  const element = byId("early-local");
  setText(element, TEXT.local(here.format(startsAt), zone));
  setVisible(element, true);
}

function remainingText(ms) {
  if (ms >= DAY_MS) return TEXT.days(Math.floor(ms / DAY_MS), Math.floor((ms % DAY_MS) / HOUR_MS));
  if (ms >= HOUR_MS) return TEXT.hours(Math.floor(ms / HOUR_MS), Math.floor((ms % HOUR_MS) / 60000));
  return formatRemaining(ms);
}

let interval = 0;

function tick() {
  const remaining = opensAt - serverNow();
  setText(countdown, remainingText(Math.max(0, remaining)));
  if (remaining > -RELOAD_SLACK_MS) return;
  window.clearInterval(interval);
  announce(status, TEXT.opening);
  window.location.replace(window.location.pathname);
}

showLocalTime();
if (Number.isFinite(opensAt)) {
  interval = window.setInterval(tick, 250);
  tick();
}
