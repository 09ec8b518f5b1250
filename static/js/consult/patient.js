// The patient's consult page: check-in, waiting room, call.
import { CheckIn } from "./checkin.js";
import { startDevicePanel } from "./devices.js";
import { Precheck } from "./precheck.js";
import { Room } from "./room.js";
import { byId, setText, setVisible } from "./ui.js";

const room = new Room({
  role: "patient",
  views: ["checkin", "waiting", "call"],
  chatSlots: { checkin: "waiting-chat-slot", waiting: "waiting-chat-slot", call: "call-chat-slot" },
});
const providerName = room.root.dataset.providerName || "Your physiotherapist";

const devices = startDevicePanel(room.media);

const precheck = new Precheck({
  room,
  media: room.media,
  elements: {
    video: byId("precheck-video"),
    verdict: byId("precheck-verdict"),
    numbers: byId("precheck-numbers"),
    rtt: byId("precheck-rtt"),
    jitter: byId("precheck-jitter"),
    loss: byId("precheck-loss"),
    bitrate: byId("precheck-bitrate"),
    route: byId("precheck-route"),
    button: byId("precheck-button"),
    listen: byId("precheck-listen"),
  },
});
// Run once by itself when the camera and microphone are ready, and again on request.
room.media.ensureStarted().then(() => {
  if (room.views.current === "checkin") precheck.run();
});

new CheckIn({
  request: room.request,
  onDone: () => room.views.show("waiting"),
});

room.views.onChange((name) => {
  if (name === "checkin") devices.startMeter();
  else devices.stopMeter();
});

const waitingStatus = byId("waiting-status");
const otherDevice = byId("other-device");
const checkinLate = byId("checkin-late");

room.onState((state) => {
  // Checked in (from this device or another one): on to the waiting room.
  if (state.phase === "waiting" && room.views.current === "checkin") room.views.show("waiting");

  const name = state.provider_name || providerName;
  const late = Number(state.running_late_minutes) || 0;
  setText(
    waitingStatus,
    late
      ? `${name} is running about ${late} minutes late. Please stay on this page.`
      : `Waiting for ${name}. They will let you in shortly.`,
  );
  setText(checkinLate, late ? `${name} is running about ${late} minutes late.` : "");

  const devicesOpen = state.presence && Array.isArray(state.presence.patient) ? state.presence.patient.length : 0;
  // On the device in the call: another one of yours is open and waiting.
  setVisible(otherDevice, devicesOpen > 1 && state.this_device !== "standby");
});
