// Tell the physiotherapist a patient is waiting: a short Web Audio chime, a desktop
// notification (only if they turned them on with the button), the tab title and a
// role="alert" banner on the page, which always works.
import { getAudioContext, setText, setVisible, unlockOnGesture } from "./ui.js";
import { t } from "../strings.js";

export function chime() {
  const context = getAudioContext();
  if (!context) return false;
  if (context.state === "suspended") context.resume().catch(() => {});
  const start = context.currentTime + 0.05;
  for (const [frequency, offset] of [[660, 0], [880, 0.18]]) {
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.4);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(start + offset);
    oscillator.stop(start + offset + 0.45);
  }
  return context.state === "running";
}

export class ArrivalAlerts {
  constructor({ button, status, banner, patientName, consultId }) {
    Object.assign(this, { button, status, banner, patientName, consultId });
    this.baseTitle = document.title;
    this.notification = null;
    this.waiting = false;
    unlockOnGesture();
    button?.addEventListener("click", () => this.askPermission());
    this.renderPermission();
  }

  get supported() {
    return "Notification" in window;
  }

  renderPermission() {
    if (!this.supported) {
      setVisible(this.button, false);
      setText(this.status, t("alerts.unsupported", { name: this.patientName }));
      return;
    }
    const permission = window.Notification.permission;
    setVisible(this.button, permission === "default");
    if (permission === "granted") {
      setText(this.status, t("alerts.on", { name: this.patientName }));
    } else if (permission === "denied") {
      setText(this.status, t("alerts.blocked"));
    } else {
      setText(this.status, t("alerts.offer", { name: this.patientName }));
    }
  }

  async askPermission() {
    if (!this.supported) return;
    const context = getAudioContext();
    if (context && context.state === "suspended") context.resume().catch(() => {});
    try {
      // Older Safari only has the callback form.
      await new Promise((resolve) => {
        const result = window.Notification.requestPermission(resolve);
        if (result && result.then) result.then(resolve, resolve);
      });
    } catch (error) {
      console.warn("notification permission", error);
    }
    this.renderPermission();
    if (this.button?.hidden && this.status) {
      // The button went away with focus on it: keep focus on the answer instead.
      this.status.setAttribute("tabindex", "-1");
      this.status.focus();
    }
  }

  /**
   * Whether the patient is in the waiting room now. `announce` (a new arrival while the
   * lobby is on screen) adds the sound and the desktop notification.
   */
  update(waiting, { announce = false } = {}) {
    if (waiting) {
      document.title = t("alerts.title", { title: this.baseTitle });
      setText(this.banner, t("alerts.arrived", { name: this.patientName }));
      if (announce) {
        chime();
        this.notify();
      }
    } else {
      document.title = this.baseTitle;
      setText(this.banner, "");
      this.notification?.close();
      this.notification = null;
    }
    this.waiting = waiting;
  }

  notify() {
    if (!this.supported || window.Notification.permission !== "granted") return;
    try {
      this.notification = new window.Notification(t("alerts.notification"), {
        body: t("alerts.arrived", { name: this.patientName }),
        tag: `consult-${this.consultId}`,
      });
      this.notification.addEventListener("click", () => {
        window.focus();
        this.notification?.close();
      });
    } catch (error) {
      // Some browsers (Android Chrome) allow notifications only from a service worker.
      console.warn("notification failed", error);
    }
  }
}

/**
 * The page's connection banner ("Connection to the clinic lost", the server's "live service
 * is reconnecting"), shown only when the call is really affected. While the call's media
 * still flows peer to peer, a signaling or Redis outage changes nothing for the people in
 * it: the message is kept and shown only if the call's own connection drops meanwhile.
 */
export class OutageAlert {
  constructor(banner, mediaFlows) {
    Object.assign(this, { banner, mediaFlows });
    this.held = null;
  }

  show(message, options = {}) {
    this.held = { message, options };
    if (this.mediaFlows()) this.banner.clear(options.key);
    else this.banner.show(message, options);
  }

  clear(key) {
    this.held = null;
    this.banner.clear(key);
  }

  /** The call's connection changed: show the held message once media stops, hide it again when it flows. */
  callChanged() {
    if (!this.held) return;
    if (this.mediaFlows()) this.banner.clear(this.held.options.key);
    else this.banner.show(this.held.message, this.held.options);
  }
}
