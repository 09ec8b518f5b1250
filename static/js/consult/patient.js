// The patient's consult page: check-in, waiting room, call.
import { CheckIn } from "./checkin.js";
import { SetupCheck } from "./check.js";
import { Room } from "./room.js";
import { byId, setText, setVisible } from "./ui.js";
import { t } from "../strings.js";

const room = new Room({
  role: "patient",
  views: ["checkin", "waiting", "call"],
  chatSlots: { checkin: "waiting-chat-slot", waiting: "waiting-chat-slot", call: "call-chat-slot" },
});
const providerName = room.root.dataset.providerName || t("patient.yourPhysio");

// The setup check (templates/consult/_check.html, the same as /setup's): the connection
// check runs by itself once while checking in, and again on request.
const check = new SetupCheck({
  media: room.media,
  socket: room.socket,
  request: room.request,
  autoRun: () => room.views.current === "checkin",
});
const devices = check.devices;

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

// The physiotherapist froze a frame to measure a joint angle: say so while it lasts.
const measuringNotice = byId("peer-measuring");
room.socket.on("peer_measuring", (data) => setVisible(measuringNotice, Boolean(data && data.active === true)));
room.socket.on("peer_left", () => setVisible(measuringNotice, false));

room.onState((state) => {
  // Checked in (from this device or another one): on to the waiting room.
  if (state.phase === "waiting" && room.views.current === "checkin") room.views.show("waiting");

  const name = state.provider_name || providerName;
  const late = Number(state.running_late_minutes) || 0;
  setText(
    waitingStatus,
    late
      ? t("patient.lateStay", { name, minutes: late })
      : t("patient.waitingFor", { name }),
  );
  setText(checkinLate, late ? t("patient.late", { name, minutes: late }) : "");

  const devicesOpen = state.presence && Array.isArray(state.presence.patient) ? state.presence.patient.length : 0;
  // On the device in the call: another one of yours is open and waiting.
  setVisible(otherDevice, devicesOpen > 1 && state.this_device !== "standby");
});
