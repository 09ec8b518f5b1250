"""The Socket.IO namespaces and event names of docs/protocol.md, written once.

Plain strings (not an Enum): python-socketio keys its handlers by the name it receives, and
the server compares names on the hot path.
"""

from __future__ import annotations

from typing import Final

CONSULT: Final = "/consult"  # the patient's and the physiotherapist's sockets
MONITOR: Final = "/monitor"  # the admins' live monitor
MEDIA: Final = "/media"  # media workers (the pre-call check's echo peers)

# -- /consult, client → server ---------------------------------------------------------
CHECK_IN: Final = "check_in"
ADMIT: Final = "admit"
SIGNAL: Final = "signal"  # also server → client: the other side's signal, relayed
MEDIA_STATE: Final = "media_state"
CHAT: Final = "chat"  # also server → client: a chat message for both sides
RUNNING_LATE: Final = "running_late"
STATS: Final = "stats"
END: Final = "end"
FIRST_FRAME: Final = "first_frame"
PRECHECK_ICE: Final = "precheck_ice"
PRECHECK_OFFER: Final = "precheck_offer"
PRECHECK_STOP: Final = "precheck_stop"
PRECHECK_RESULT: Final = "precheck_result"
SWITCH_DEVICE: Final = "switch_device"
MEASURING: Final = "measuring"  # the physiotherapist froze a frame to measure (or stopped)

# -- /consult, server → client ---------------------------------------------------------
STATE: Final = "state"
ICE_SERVERS: Final = "ice_servers"
PEER_MEDIA: Final = "peer_media"
PEER_MEASURING: Final = "peer_measuring"
WARNING: Final = "warning"
ENDED: Final = "ended"
PEER_LEFT: Final = "peer_left"
PEER_BACK: Final = "peer_back"
DEVICE_SWITCHED: Final = "device_switched"
PRECHECK_ANSWER: Final = "precheck_answer"  # also worker → server on /media
PRECHECK_ERROR: Final = "precheck_error"
ERROR: Final = "error"

# -- /media ----------------------------------------------------------------------------
PRECHECK_REQUEST: Final = "precheck_request"  # server → worker
PRECHECK_CLOSE: Final = "precheck_close"  # server → worker
PRECHECK_REFUSED: Final = "precheck_refused"  # worker → server
PRECHECK_DONE: Final = "precheck_done"  # worker → server
HEARTBEAT: Final = "heartbeat"  # worker → server

# -- /monitor --------------------------------------------------------------------------
ROOMS: Final = "rooms"  # server → admin: every room of today, at connect
ROOM: Final = "room"  # server → admin: one room changed
PROBE_RESULT: Final = "probe_result"  # server → admin
RUN_PROBE: Final = "run_probe"  # admin → server
END_ROOM: Final = "end_room"  # admin → server

# What a /consult socket may receive (clients keep anything else too).
CONSULT_SERVER_EVENTS: Final = (
    STATE,
    ICE_SERVERS,
    SIGNAL,
    PEER_MEDIA,
    PEER_MEASURING,
    CHAT,
    WARNING,
    ENDED,
    PEER_LEFT,
    PEER_BACK,
    DEVICE_SWITCHED,
    PRECHECK_ANSWER,
    PRECHECK_ERROR,
    ERROR,
)
