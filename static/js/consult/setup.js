// The "Test your setup" page: the setup check on its own. With the setup link's token it
// also checks the connection, over the /setup namespace (telehealth/signaling/setup_namespace.py).
import { io } from "../../vendor/socket.io-4.8.4/socket.io.esm.min.js";
import { SetupCheck } from "./check.js";
import { LocalMedia } from "./media.js";
import { refusalText, request } from "./signaling.js";
import { byId, unlockOnGesture } from "./ui.js";

const token = byId("setup")?.dataset.setupToken || "";
const media = new LocalMedia();
const socket = token
  ? io("/setup", {
      transports: ["websocket"],
      auth: { setup_token: token },
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    })
  : null;

const check = new SetupCheck({
  media,
  socket,
  request: socket ? (event, payload) => request(socket, event, payload) : null,
  autoRun: () => false, // once the socket is in (below), not before
});

socket?.on("connect", () => {
  media.ensureStarted().then(() => {
    if (!check.precheck.result) check.runConnection();
  });
});
socket?.on("connect_error", (error) => {
  const data = error && error.data;
  // Refused by the server (an expired or replaced link): its words say what to do.
  if (data && typeof data === "object" && data.message) check.refuseConnection(refusalText(data.code, data.message));
});

unlockOnGesture();
window.addEventListener("pagehide", () => {
  media.stopAll();
  socket?.disconnect();
});
