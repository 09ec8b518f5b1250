// The reference relay for bench/signaling_load.py: the least a socket.io 4 server can do
// to play our /consult namespace's part in the benchmark. Websocket only; a client names
// its room and side at connect ({room, side}); `signal` goes to the other side's room and
// is acknowledged with {ok: true}. No authentication, phases or payload checks: this is
// the yardstick, not a server to deploy.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const PORT = Number(process.env.PORT || 5100);
const HOST = process.env.HOST || "127.0.0.1";

const httpServer = http.createServer((req, res) => {
  res.writeHead(req.url === "/readyz" ? 200 : 404, { "content-type": "text/plain" });
  res.end(req.url === "/readyz" ? "ok" : "not found");
});

const io = new Server(httpServer, {
  transports: ["websocket"],
  serveClient: false,
  maxHttpBufferSize: 64 * 1024, // as ours: larger messages are refused
  pingInterval: 10000,
  pingTimeout: 10000,
});

const OTHER = { patient: "provider", provider: "patient" };

io.of("/consult").on("connection", (socket) => {
  const auth = socket.handshake.auth || {};
  const room = String(auth.room || "");
  const side = auth.side === "provider" ? "provider" : "patient";
  const relayTo = `${room}:${OTHER[side]}`;
  socket.join(`${room}:${side}`);
  socket.on("signal", (payload, ack) => {
    socket.to(relayTo).emit("signal", payload);
    if (typeof ack === "function") ack({ ok: true });
  });
});

httpServer.listen(PORT, HOST, () => {
  console.log("ready");
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
