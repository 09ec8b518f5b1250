"""The ceiling relay for bench/signaling_load.py: bench/reference/server.js's behaviour on our
stack (python-socketio on gevent, simple-websocket, gevent's WSGI server), doing nothing but
relay. What our /consult namespace can at best approach without changing the libraries.

Websocket only; a client names its room and side at connect ({room, side}); `signal` goes
to the other side's room and is acknowledged with {ok: true}. Like our server (and Node's),
it declines permessage-deflate, sets TCP_NODELAY and handles one socket's events in order.
No authentication, phases or payload checks. Prints `ready` once it listens.

    python bench/reference/ceiling.py   # PORT, HOST from the environment
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import socket  # noqa: E402
from typing import Any  # noqa: E402

import socketio  # noqa: E402
from gevent import pywsgi  # noqa: E402

NAMESPACE = "/consult"
OTHER = {"patient": "provider", "provider": "patient"}

sio = socketio.Server(
    async_mode="gevent",
    transports=["websocket"],
    async_handlers=False,
    max_http_buffer_size=64 * 1024,
    ping_interval=10,  # as the Node reference
    ping_timeout=10,
)
relay_to: dict[str, str] = {}


@sio.on("connect", namespace=NAMESPACE)
def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    auth = auth if isinstance(auth, dict) else {}
    room = str(auth.get("room", ""))
    side = "provider" if auth.get("side") == "provider" else "patient"
    sio.enter_room(sid, f"{room}:{side}", namespace=NAMESPACE)
    relay_to[sid] = f"{room}:{OTHER[side]}"


@sio.on("disconnect", namespace=NAMESPACE)
def disconnect(sid: str, reason: Any = None) -> None:
    relay_to.pop(sid, None)


@sio.on("signal", namespace=NAMESPACE)
def signal(sid: str, payload: Any = None) -> dict[str, bool]:
    sio.emit("signal", payload, to=relay_to.get(sid), namespace=NAMESPACE)
    return {"ok": True}


def ready(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    found = environ.get("PATH_INFO") == "/readyz"
    start_response("200 OK" if found else "404 Not Found", [("Content-Type", "text/plain")])
    return [b"ok" if found else b"not found"]


socket_app = socketio.WSGIApp(sio, ready)


def app(environ: dict[str, Any], start_response: Any) -> Any:
    # simple-websocket negotiates from this header: without it, no permessage-deflate.
    environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
    return socket_app(environ, start_response)


def main() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind((os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "5200"))))
    listener.listen(1024)
    print("ready", flush=True)
    pywsgi.WSGIServer(listener, app, log=None).serve_forever()


if __name__ == "__main__":
    main()
