// The 20-minute countdown. The end comes from the server (`call_ends_at`), and "now" is the
// local clock corrected by the offset between `server_time` and the local clock when that
// state arrived, so a wrong clock on this device doesn't change the time left.
import { announce, parseTime, setText } from "./ui.js";
import { plural } from "../strings.js";

function pad(number) {
  return String(number).padStart(2, "0");
}

export function formatRemaining(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${pad(Math.floor(total / 60))}:${pad(total % 60)}`;
}

export function warningText(secondsLeft) {
  const seconds = Math.max(0, Math.round(Number(secondsLeft) || 0));
  if (seconds >= 60) {
    return plural("countdown.minutesLeft", Math.round(seconds / 60));
  }
  return plural("countdown.secondsLeft", seconds);
}

export class Countdown {
  constructor(timer, warning) {
    this.timer = timer;
    this.warning = warning;
    this.endsAt = Number.NaN;
    this.offsetMs = 0;
    this.interval = 0;
  }

  /** A `state` with `call_ends_at` and `server_time`. */
  sync(state) {
    const endsAt = parseTime(state && state.call_ends_at);
    const serverTime = parseTime(state && state.server_time);
    if (!Number.isFinite(endsAt)) return;
    if (Number.isFinite(serverTime)) this.offsetMs = serverTime - Date.now();
    this.endsAt = endsAt;
    this.start();
  }

  /** The server's idea of now. */
  now() {
    return Date.now() + this.offsetMs;
  }

  remainingMs() {
    return Number.isFinite(this.endsAt) ? Math.max(0, this.endsAt - this.now()) : Number.NaN;
  }

  start() {
    if (!this.interval) this.interval = window.setInterval(() => this.render(), 250);
    this.render();
  }

  stop() {
    window.clearInterval(this.interval);
    this.interval = 0;
  }

  render() {
    const remaining = this.remainingMs();
    if (!Number.isFinite(remaining) || !this.timer) return;
    setText(this.timer, formatRemaining(remaining));
    this.timer.classList.toggle("is-warning", remaining <= 5 * 60 * 1000 && remaining > 60 * 1000);
    this.timer.classList.toggle("is-urgent", remaining <= 60 * 1000);
  }

  /** The server's `warning` event: announce it in the separate status region. */
  warn(secondsLeft) {
    announce(this.warning, warningText(secondsLeft));
    this.render();
  }
}
