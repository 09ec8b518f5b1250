// Small DOM helpers shared by the consult pages: no framework, no inline styles.
import { clinicFormat } from "../strings.js";

export const byId = (id) => document.getElementById(id);

/** Set text only when it changes, so live regions don't repeat themselves. */
export function setText(element, text) {
  if (element && element.textContent !== text) {
    element.textContent = text;
  }
}

export function setVisible(element, visible) {
  if (element) {
    element.hidden = !visible;
  }
}

/** Write into a live region, announcing again even when the text is the same as before. */
export function announce(element, text) {
  if (!element) return;
  if (element.textContent === text) {
    element.textContent = "";
    window.setTimeout(() => {
      element.textContent = text;
    }, 100);
  } else {
    element.textContent = text;
  }
}

/** Milliseconds since the epoch of an ISO 8601 time from the server (any fraction length). */
export function parseTime(iso) {
  if (typeof iso !== "string" || !iso) return Number.NaN;
  return Date.parse(iso.replace(/(\.\d{3})\d+/, "$1"));
}

let clockFormat = null;

/** "9:02 a.m." ("9 h 02") in the clinic's time zone and the page's language, or "" when the time is missing. */
export function formatTime(iso) {
  const ms = parseTime(iso);
  if (!Number.isFinite(ms)) return "";
  // The clinic's zone, like every other time the clinic shows: both people are in Ontario.
  if (!clockFormat) clockFormat = clinicFormat({ hour: "numeric", minute: "2-digit" });
  return clockFormat.format(ms);
}

/** A same-origin path from the server, or the fallback: never an open redirect. */
export function safeUrl(url, fallback) {
  if (typeof url === "string" && /^\/(?![/\\])/.test(url)) return url;
  return fallback || "/";
}

/**
 * The page's views (sections with id="view-NAME"); exactly one is visible. Showing a new
 * view moves focus to its heading (tabindex="-1", data-view-heading) so keyboard and screen
 * reader users land at the start of what changed.
 */
export class Views {
  constructor(names) {
    this.sections = new Map(names.map((name) => [name, byId(`view-${name}`)]));
    this.current = names.find((name) => this.sections.get(name) && !this.sections.get(name).hidden) || names[0];
    this.listeners = [];
  }

  onChange(listener) {
    this.listeners.push(listener);
  }

  show(name, { focus = true } = {}) {
    if (this.current === name || !this.sections.has(name)) return false;
    const previous = this.current;
    for (const [sectionName, section] of this.sections) {
      if (section) section.hidden = sectionName !== name;
    }
    this.current = name;
    for (const listener of this.listeners) {
      try {
        listener(name, previous);
      } catch (error) {
        console.error("view listener failed", error);
      }
    }
    if (focus) {
      const section = this.sections.get(name);
      const heading = section && (section.querySelector("[data-view-heading]") || section.querySelector("h1, h2"));
      if (heading) heading.focus();
    }
    return true;
  }
}

let audioContext = null;

/** One AudioContext per page (mic meter and arrival chime); null when Web Audio is missing. */
export function getAudioContext() {
  if (!audioContext) {
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    if (!AudioContextClass) return null;
    try {
      audioContext = new AudioContextClass();
    } catch (error) {
      console.warn("no AudioContext", error);
      return null;
    }
  }
  return audioContext;
}

/**
 * Browsers keep audio suspended until the person interacts with the page: resume the
 * shared AudioContext (and run any extra callbacks) on the first click or key press.
 */
export function unlockOnGesture(extra) {
  const unlock = () => {
    const context = getAudioContext();
    if (context && context.state === "suspended") {
      context.resume().catch(() => {});
    }
    if (extra) extra();
  };
  for (const type of ["pointerdown", "keydown", "touchend"]) {
    document.addEventListener(type, unlock, { capture: true, passive: true });
  }
}

/** The page's role="alert" banner: a message and, optionally, one link. */
export class Banner {
  constructor(element) {
    this.element = element;
    this.key = null;
  }

  show(message, { key = "general", linkText = "", linkHref = "" } = {}) {
    if (!this.element) return;
    this.key = key;
    const paragraph = document.createElement("p");
    paragraph.textContent = message;
    if (linkText && linkHref) {
      const link = document.createElement("a");
      link.href = linkHref;
      link.textContent = linkText;
      paragraph.append(" ", link);
    }
    this.element.replaceChildren(paragraph);
  }

  /** Clear the banner, only if it still shows the message with this key (or any, if none). */
  clear(key) {
    if (!this.element) return;
    if (key && this.key !== key) return;
    this.key = null;
    this.element.replaceChildren();
  }
}
