// The /consult Socket.IO namespace (docs/protocol.md): connect, and ask with an acknowledgement.
import { io } from "../../vendor/socket.io-4.8.4/socket.io.esm.min.js";
import { has, lang, t } from "../strings.js";

export const ACK_TIMEOUT_MS = 10000;

/** A short label for this device, shown to the other side ("Chrome on Android"). */
export function deviceLabel() {
  const ua = navigator.userAgent || "";
  let browser = t("device.browser");
  if (/Edg(e|A|iOS)?\//.test(ua)) browser = "Edge";
  else if (/OPR\//.test(ua)) browser = "Opera";
  else if (/SamsungBrowser\//.test(ua)) browser = "Samsung Internet";
  else if (/Firefox\/|FxiOS\//.test(ua)) browser = "Firefox";
  else if (/Chrome\/|CriOS\//.test(ua)) browser = "Chrome";
  else if (/Safari\//.test(ua)) browser = "Safari";
  let system = "";
  if (/iPad/.test(ua)) system = "iPad";
  else if (/iPhone|iPod/.test(ua)) system = "iPhone";
  else if (/Android/.test(ua)) system = "Android";
  else if (/CrOS/.test(ua)) system = "ChromeOS";
  else if (/Macintosh|Mac OS X/.test(ua)) system = "Mac";
  else if (/Windows/.test(ua)) system = "Windows";
  else if (/Linux/.test(ua)) system = "Linux";
  // In this page's language: the label travels as text (docs/protocol.md, `device`).
  return (system ? t("device.on", { browser, system }) : browser).slice(0, 40);
}

const DEVICE_KEY = "telehealth.device";
const DEVICE_ID = /^[A-Za-z0-9_-]{16,64}$/;
let pageDevice = "";

function randomId() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * This tab's device id (docs/protocol.md): kept in sessionStorage, so a reload or a
 * reconnect of this tab comes back as the same device and keeps its place in the call.
 * `renew` drops it: a tab the consult moved away from must not win it back by reconnecting.
 */
export function deviceId({ renew = false } = {}) {
  let id = renew ? "" : pageDevice;
  if (!id && !renew) {
    try {
      id = window.sessionStorage.getItem(DEVICE_KEY) || "";
    } catch {
      id = ""; // storage blocked: this page keeps its id in memory
    }
  }
  if (!DEVICE_ID.test(id)) {
    id = randomId();
    try {
      window.sessionStorage.setItem(DEVICE_KEY, id);
    } catch {
      /* kept in memory only */
    }
  }
  pageDevice = id;
  return id;
}

/**
 * Open the namespace. Websocket only; jittered backoff from 0.5 s to 5 s. The patient is
 * recognised by the session cookie (consult_id is ignored for them), the physiotherapist
 * by the staff cookie plus consult_id.
 */
export function connect({ consultId, role }) {
  return io("/consult", {
    transports: ["websocket"],
    // `as` says which page this is: a physiotherapist who opens a patient link in the same
    // browser is the patient on that page.
    // A function: every reconnect sends the device id as it is then.
    auth: (send) => send({ device: deviceLabel(), device_id: deviceId(), consult_id: consultId, as: role }),
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    randomizationFactor: 0.5,
  });
}

/**
 * What a refusal says to the person. The server's message is English and sometimes more
 * specific than its code, so an English page shows it as it is; any other page shows its
 * own words for the code, and the server's message only for a code it doesn't know.
 */
export function refusalText(code, serverMessage) {
  const key = `refusal.${code}`;
  if (has(key) && !lang().toLowerCase().startsWith("en")) return t(key);
  return String(serverMessage || t("refusal.unknown"));
}

const TIMEOUT_ACK = Object.freeze({
  ok: false,
  error: {
    code: "timeout",
    message: t("refusal.timeout"),
  },
});

/**
 * Emit an event and resolve with its acknowledgement, normalised to
 * {ok: true, ...} or {ok: false, error: {code, message}, fields?}. Never rejects: a
 * missing answer after `timeoutMs` resolves as {ok: false, error: {code: "timeout"}}.
 */
export function request(socket, event, payload = {}, timeoutMs = ACK_TIMEOUT_MS) {
  return new Promise((resolve) => {
    socket.timeout(timeoutMs).emit(event, payload, (error, ack) => {
      if (error) {
        resolve(TIMEOUT_ACK);
      } else if (!ack || typeof ack !== "object") {
        resolve({ ok: true });
      } else if (ack.ok === false) {
        const problem = ack.error && typeof ack.error === "object" ? ack.error : {};
        resolve({
          ...ack,
          error: {
            code: String(problem.code || "error"),
            message: refusalText(problem.code, problem.message),
          },
        });
      } else {
        resolve(ack);
      }
    });
  });
}
