"""Live consults shared in Redis, so every web process sees the same waiting room and clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis
from redis.client import Pipeline
from redis.exceptions import WatchError

from . import state
from .routes import LUA_PUBLISH_ROUTE, LUA_PUBLISH_ROUTE_SCRIPT, Route
from .state import ClockRules, LiveConsult, Phase, Side, TransitionError

__all__ = ["KEEP_AFTER_END", "LiveConsultStore", "LiveSnapshot", "StoreBusy"]

# Redis keeps a finished consult long enough for same-day follow-up, then forgets it.
KEEP_AFTER_END = timedelta(hours=24)
# Two or three processes race for one consult at most; more retries than this means trouble.
_MAX_ATTEMPTS = 50

_FIELDS = tuple(f.name for f in fields(LiveConsult))
_TIME_FIELDS = frozenset(
    {"starts_at", "ends_at_booked", "checked_in_at", "admitted_at", "call_ends_at", "ended_at"}
)
_TERMINAL_NAMES = sorted(p.value for p in Phase if p.is_terminal)
_LUA_TERMINAL = "{" + ", ".join(f"['{name}'] = true" for name in _TERMINAL_NAMES) + "}"

# Presence keys inherit the consult's expiry once it has one, so nothing outlives the consult.
_LUA_TTL = """
local function borrow_ttl(consult_key, default_ms)
  local ttl = redis.call('PTTL', consult_key)
  if ttl < 0 then ttl = tonumber(default_ms) end
  return ttl
end
"""

# One device per side takes part in the call: the side's `active` hash holds its device id
# (the browser keeps one per tab; a reconnect of that tab comes back with it and a new sid),
# its current sid ('' while it is away) and since when it has been away (epoch ms).
# KEYS: consult, presence(side), gone(side), active(side), active(patient), active(provider),
# route version. ARGV: sid, presence json, default ttl ms, most devices per side (0: no cap),
# device id, now epoch ms, how long an away active device keeps its role (ms), route
# channel, consult id. Counting, adding and choosing the active device in one script keeps
# the cap exact and the active device single however many web processes take connects for
# the same link at once. Returns {devices, 1 if this one is active, the route when it
# changed}.
_JOIN_LUA = (
    _LUA_TTL
    + LUA_PUBLISH_ROUTE
    + f"local terminal = {_LUA_TERMINAL}\n"
    + """
local phase = redis.call('HGET', KEYS[1], 'phase')
if not phase then return {-1, 0} end
if terminal[phase] then return {-2, 0} end
local cap = tonumber(ARGV[4])
if cap > 0 and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0
   and redis.call('HLEN', KEYS[2]) >= cap then return {-3, 0} end
local ttl = borrow_ttl(KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('PEXPIRE', KEYS[2], ttl)
local owner = redis.call('HGET', KEYS[4], 'device_id')
local owner_sid = redis.call('HGET', KEYS[4], 'sid') or ''
local takes_part = false
if not owner or owner == ARGV[5] then
  takes_part = true  -- the side's first device, or the active one reconnecting
elseif owner_sid ~= '' and redis.call('HEXISTS', KEYS[2], owner_sid) == 1 then
  takes_part = false  -- the active device is here: this one waits
else
  -- The active device is away: it keeps its role through the rejoin window.
  local away = tonumber(redis.call('HGET', KEYS[4], 'away_since_ms') or '0')
  -- (No time at all: its socket vanished without a leave, so nobody holds the role.)
  takes_part = away == 0 or tonumber(ARGV[6]) - away > tonumber(ARGV[7])
end
if takes_part then
  redis.call('HSET', KEYS[4], 'device_id', ARGV[5], 'sid', ARGV[1])
  redis.call('HDEL', KEYS[4], 'away_since_ms')
  redis.call('PEXPIRE', KEYS[4], ttl)
  local route = publish_route(KEYS[1], KEYS[5], KEYS[6], KEYS[7], ARGV[8], ARGV[9], ARGV[3])
  return {redis.call('HLEN', KEYS[2]), 1, route}
end
return {redis.call('HLEN', KEYS[2]), 0}
"""
)

# KEYS: consult, presence(side), gone(side), active(side), active(patient), active(provider),
# route version. ARGV: sid, now iso, default ttl ms, now epoch ms, route channel, consult
# id. Returns {the side's devices left, the route when it changed}.
_LEAVE_LUA = (
    _LUA_TTL
    + LUA_PUBLISH_ROUTE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local removed = redis.call('HDEL', KEYS[2], ARGV[1])
local left = redis.call('HLEN', KEYS[2])
local route = false
if removed == 1 and redis.call('HGET', KEYS[4], 'sid') == ARGV[1] then
  -- The active device is away; it keeps the role (see _JOIN_LUA) until someone takes it.
  redis.call('HSET', KEYS[4], 'sid', '', 'away_since_ms', ARGV[4])
  route = publish_route(KEYS[1], KEYS[5], KEYS[6], KEYS[7], ARGV[5], ARGV[6], ARGV[3])
end
-- Only the device that empties the side starts the rejoin clock; strays must not restart it.
if removed == 1 and left == 0 then
  redis.call('SET', KEYS[3], ARGV[2], 'PX', borrow_ttl(KEYS[1], ARGV[3]))
end
if route then return {left, route} end
return {left}
"""
)

# KEYS: consult, presence(side), active(side), active(patient), active(provider), route
# version. ARGV: the sid that becomes active, default ttl ms, route channel, consult id.
# Returns {1, previous active sid, the route} or {code}: -1 unknown consult, -2 over,
# -4 no such connected device, -5 it is already the active one.
_SWITCH_LUA = (
    _LUA_TTL
    + LUA_PUBLISH_ROUTE
    + f"local terminal = {_LUA_TERMINAL}\n"
    + """
local phase = redis.call('HGET', KEYS[1], 'phase')
if not phase then return {-1} end
if terminal[phase] then return {-2} end
local seen = redis.call('HGET', KEYS[2], ARGV[1])
if not seen then return {-4} end
local previous = redis.call('HGET', KEYS[3], 'sid') or ''
if previous == ARGV[1] then return {-5} end
local device_id = cjson.decode(seen)['device_id']
if type(device_id) ~= 'string' or device_id == '' then device_id = 'sid:' .. ARGV[1] end
redis.call('HSET', KEYS[3], 'device_id', device_id, 'sid', ARGV[1])
redis.call('HDEL', KEYS[3], 'away_since_ms')
redis.call('PEXPIRE', KEYS[3], borrow_ttl(KEYS[1], ARGV[2]))
return {1, previous, publish_route(KEYS[1], KEYS[4], KEYS[5], KEYS[6], ARGV[3], ARGV[4], ARGV[2])}
"""
)

# KEYS: note. ARGV: seconds to keep it, then field, value, field, value...
# The note is replaced whole in one command (a field left out must not linger), and no
# reader sees it half written.
_SET_NOTE_LUA = """
redis.call('DEL', KEYS[1])
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

# KEYS: consult, warned. ARGV: seconds left, default ttl ms.
_CLAIM_WARNING_LUA = (
    _LUA_TTL
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local added = redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], borrow_ttl(KEYS[1], ARGV[2]))
return added
"""
)


# The notes a page or the monitor shows, read with the rest of a snapshot.
SNAPSHOT_NOTES = ("info", "checklist", "precheck", "stats:patient", "stats:provider")


def _devices(raw: dict[str, str]) -> list[dict[str, str]]:
    devices = [
        {"sid": sid, "since": s.get("since", ""), "device": s.get("device", "")}
        for sid, s in ((sid, json.loads(seen)) for sid, seen in raw.items())
    ]
    return sorted(devices, key=lambda d: (d["since"], d["sid"]))


class LiveSnapshot:
    """One consult's live state, notes, devices and active devices, read in one round trip
    (`LiveConsultStore.snapshot`). It answers the store's reads for that consult, so a
    broadcast to both sides and the monitor builds every view from one read."""

    def __init__(
        self,
        consult_id: int,
        live: LiveConsult | None,
        notes: dict[str, dict[str, str]],
        presence: dict[Side, list[dict[str, str]]],
        active: dict[Side, str | None],
    ) -> None:
        self.consult_id = consult_id
        self.live = live
        self.notes = notes
        self._presence = presence
        self.active = active

    def get(self, consult_id: int) -> LiveConsult | None:
        self._check(consult_id)
        return self.live

    def note(self, consult_id: int, name: str) -> dict[str, str]:
        self._check(consult_id)
        return self.notes[name]

    def presence(self, consult_id: int) -> dict[Side, list[dict[str, str]]]:
        self._check(consult_id)
        return self._presence

    def active_sid(self, consult_id: int, side: Side) -> str | None:
        self._check(consult_id)
        return self.active[Side(side)]

    def has_standby(self, side: Side) -> bool:
        """True when `side` has a connected device that is not its active one."""
        return any(d["sid"] != self.active[side] for d in self._presence[side])

    def _check(self, consult_id: int) -> None:
        if consult_id != self.consult_id:
            raise ValueError(f"a snapshot of consult {self.consult_id}, not {consult_id}")


@dataclass(frozen=True)
class ClockView:
    """What the consult clock needs of one live consult: its state, when each side's last
    device left, and the time warnings already announced (`LiveConsultStore.clock_views`)."""

    live: LiveConsult | None
    gone_since: dict[Side, datetime | None]
    warned: frozenset[int]

    def side_gone_too_long(self, side: Side, now: datetime, rejoin_window: timedelta) -> bool:
        since = self.gone_since[side]
        return since is not None and now - since > rejoin_window


class StoreBusy(RuntimeError):
    """A consult kept changing under us; the caller may retry later."""


def _snapshot_of(consult_id: int, answers: list[Any]) -> LiveSnapshot:
    """A `LiveSnapshot` from one consult's answers to `LiveConsultStore.snapshots`."""
    notes = dict(zip(SNAPSHOT_NOTES, answers[1 : 1 + len(SNAPSHOT_NOTES)], strict=True))
    per_side = answers[1 + len(SNAPSHOT_NOTES) :]
    return LiveSnapshot(
        consult_id,
        _decode(answers[0]),
        notes,
        {side: _devices(per_side[2 * i]) for i, side in enumerate(Side)},
        {side: per_side[2 * i + 1] or None for i, side in enumerate(Side)},
    )


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the clinic's clocks are always UTC-aware")
    return moment.astimezone(UTC).isoformat()


def _encode(c: LiveConsult) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _FIELDS:
        value = getattr(c, name)
        if value is None:
            continue
        out[name] = _iso(value) if name in _TIME_FIELDS else str(value)
    return out


def _decode(raw: dict[str, str]) -> LiveConsult | None:
    if not raw:
        return None

    def when(name: str) -> datetime | None:
        value = raw.get(name)
        return datetime.fromisoformat(value) if value else None

    late = raw.get("running_late_minutes")
    return LiveConsult(
        consult_id=int(raw["consult_id"]),
        phase=Phase(raw["phase"]),
        starts_at=datetime.fromisoformat(raw["starts_at"]),
        ends_at_booked=datetime.fromisoformat(raw["ends_at_booked"]),
        checked_in_at=when("checked_in_at"),
        admitted_at=when("admitted_at"),
        call_ends_at=when("call_ends_at"),
        ended_at=when("ended_at"),
        ended_by=raw.get("ended_by"),
        running_late_minutes=int(late) if late else None,
    )


def _when_gone(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


class LiveConsultStore:
    """Shared live consults: every transition is atomic across processes."""

    def __init__(
        self,
        redis_client: redis.Redis,
        rules: ClockRules | Callable[[], ClockRules],
        key_prefix: str = "th",
    ) -> None:
        if not redis_client.get_connection_kwargs().get("decode_responses"):
            # Decoding in one place beats sprinkling bytes checks through every read.
            raise ValueError("LiveConsultStore needs a Redis client with decode_responses=True")
        self.redis = redis_client
        # A callable follows the admin's settings as they change.
        self._policy = rules if callable(rules) else (lambda: rules)
        self.prefix = key_prefix
        self._join_script = redis_client.register_script(_JOIN_LUA)
        self._leave_script = redis_client.register_script(_LEAVE_LUA)
        self._switch_script = redis_client.register_script(_SWITCH_LUA)
        self._claim_warning_script = redis_client.register_script(_CLAIM_WARNING_LUA)
        self._set_note_script = redis_client.register_script(_SET_NOTE_LUA)
        self.route_listeners: list[Callable[[Route], object]] = []

    @classmethod
    def from_url(
        cls, url: str, rules: ClockRules | None = None, key_prefix: str = "th"
    ) -> LiveConsultStore:
        """Connect to Redis at `url` with the decoding the store relies on."""
        client = redis.Redis.from_url(url, decode_responses=True)
        return cls(client, rules or ClockRules(), key_prefix)

    @property
    def rules(self) -> ClockRules:
        """The consult policy in force now."""
        return self._policy()

    # -- keys -----------------------------------------------------------------

    def _consult_key(self, consult_id: int) -> str:
        return f"{self.prefix}:consult:{consult_id}"

    def _presence_key(self, consult_id: int, side: Side) -> str:
        return f"{self._consult_key(consult_id)}:presence:{Side(side)}"

    def _gone_key(self, consult_id: int, side: Side) -> str:
        return f"{self._consult_key(consult_id)}:gone:{Side(side)}"

    def _active_key(self, consult_id: int, side: Side) -> str:
        return f"{self._consult_key(consult_id)}:active:{Side(side)}"

    def _route_key(self, consult_id: int) -> str:
        return f"{self._consult_key(consult_id)}:route"

    def _device_keys(self, consult_id: int, side: Side) -> list[str]:
        """What a device joining or leaving `side` touches, in the order the scripts expect."""
        return [
            self._consult_key(consult_id),
            self._presence_key(consult_id, side),
            self._gone_key(consult_id, side),
            self._active_key(consult_id, side),
            *self._route_keys(consult_id),
        ]

    def _route_keys(self, consult_id: int) -> list[str]:
        """The keys a route is read from, in the order the route scripts take them."""
        return [
            *(self._active_key(consult_id, side) for side in (Side.PATIENT, Side.PROVIDER)),
            self._route_key(consult_id),
        ]

    @property
    def route_channel(self) -> str:
        """Where every change of a consult's route is published (sessions/routes.py)."""
        return f"{self.prefix}:routes"

    def _warned_key(self, consult_id: int) -> str:
        return f"{self._consult_key(consult_id)}:warned"

    @property
    def _live_key(self) -> str:
        return f"{self.prefix}:live"

    @property
    def _lobby_key(self) -> str:
        return f"{self.prefix}:lobby"

    @property
    def _ending_key(self) -> str:
        return f"{self.prefix}:clock:ending"

    def _keys_of(self, consult_id: int) -> list[str]:
        return [
            self._consult_key(consult_id),
            *(self._presence_key(consult_id, side) for side in Side),
            *(self._gone_key(consult_id, side) for side in Side),
            *(self._active_key(consult_id, side) for side in Side),
            self._warned_key(consult_id),
            self._route_key(consult_id),
        ]

    @property
    def _keep_ms(self) -> int:
        return int(KEEP_AFTER_END.total_seconds() * 1000)

    # -- reads ----------------------------------------------------------------

    def get(self, consult_id: int) -> LiveConsult | None:
        """The consult as it stands now, or None if Redis does not know it."""
        raw = cast(dict[str, str], self.redis.hgetall(self._consult_key(consult_id)))
        return _decode(raw)

    def clock_views(self, consult_ids: list[int]) -> dict[int, ClockView]:
        """Every consult's `ClockView` in one pipelined round trip: read one by one, the
        clock's sweep of 200 live consults cost 400-800 round trips every half second."""
        sides = list(Side)
        with self.redis.pipeline(transaction=False) as pipe:
            for consult_id in consult_ids:
                pipe.hgetall(self._consult_key(consult_id))
                for side in sides:
                    pipe.get(self._gone_key(consult_id, side))
                pipe.smembers(self._warned_key(consult_id))
            answers = iter(pipe.execute())
        views = {}
        for consult_id in consult_ids:
            live = _decode(cast(dict[str, str], next(answers)))
            gone = {side: _when_gone(cast(str | None, next(answers))) for side in sides}
            warned = frozenset(int(m) for m in cast(set[str], next(answers)))
            views[consult_id] = ClockView(live, gone, warned)
        return views

    def live_ids(self) -> list[int]:
        """Consults not yet over, for the monitors to sweep."""
        members = cast(set[str], self.redis.smembers(self._live_key))
        return sorted(int(m) for m in members)

    def waiting_ids(self) -> list[int]:
        """Consults with a patient in the waiting room, longest-waiting first."""
        members = cast(list[str], self.redis.zrange(self._lobby_key, 0, -1))
        return [int(m) for m in members]

    def overdue_calls(self, now: datetime) -> list[int]:
        """Calls whose clock ran out more than the grace ago."""
        cutoff = (now - self.rules.grace).timestamp()
        members = cast(list[str], self.redis.zrangebyscore(self._ending_key, "-inf", cutoff))
        return [int(m) for m in members]

    def calls_ending_by(self, moment: datetime) -> list[int]:
        """Calls in progress whose clock runs out at or before `moment` (for warnings)."""
        members = cast(
            list[str], self.redis.zrangebyscore(self._ending_key, "-inf", moment.timestamp())
        )
        return [int(m) for m in members]

    # -- notes: small facts kept beside a live consult (check-in answers, call health) --

    def _note_key(self, consult_id: int, name: str) -> str:
        return f"{self._consult_key(consult_id)}:note:{name}"

    def set_note(self, consult_id: int, name: str, values: dict[str, str]) -> None:
        """Keep a small hash beside the consult; it expires with the live state. One
        command: both sides' call health arrives every few seconds from every call."""
        fields = [part for item in values.items() for part in item]
        self._set_note_script(
            keys=[self._note_key(consult_id, name)],
            args=[int(KEEP_AFTER_END.total_seconds()), *fields],
        )

    def _queue_note(
        self, pipe: Pipeline, consult_id: int, name: str, values: dict[str, str]
    ) -> None:
        key = self._note_key(consult_id, name)
        pipe.delete(key)
        pipe.hset(key, mapping=values)
        pipe.expire(key, KEEP_AFTER_END)

    def note(self, consult_id: int, name: str) -> dict[str, str]:
        return cast(dict[str, str], self.redis.hgetall(self._note_key(consult_id, name)))

    # -- transitions ------------------------------------------------------------

    def ensure(
        self,
        consult_id: int,
        starts_at: datetime,
        ends_at_booked: datetime,
        notes: dict[str, dict[str, str]] | None = None,
    ) -> LiveConsult:
        """Start tracking a booked consult; an existing one is returned untouched. `notes`
        are written in the same round trip (as `set_note` would)."""
        fresh = LiveConsult(consult_id, Phase.SCHEDULED, starts_at, ends_at_booked)
        key = self._consult_key(consult_id)
        # Every connect but a consult's first finds it: one round trip, no WATCH.
        with self.redis.pipeline() as pipe:
            for name, values in (notes or {}).items():
                self._queue_note(pipe, consult_id, name, values)
            pipe.hgetall(key)
            existing = _decode(cast(dict[str, str], pipe.execute()[-1]))
        if existing is not None:
            return existing
        with self.redis.pipeline() as pipe:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    pipe.watch(key)
                    existing = _decode(cast(dict[str, str], pipe.hgetall(key)))
                    if existing is not None:
                        pipe.unwatch()
                        return existing
                    pipe.multi()
                    self._queue_write(pipe, fresh)
                    pipe.execute()
                    return fresh
                except WatchError:
                    continue
        raise StoreBusy(f"consult {consult_id} kept changing while being created")

    def check_in(self, consult_id: int, now: datetime) -> LiveConsult:
        """Put the patient in the waiting room."""
        return self._transition(consult_id, lambda c: state.check_in(c, now, self.rules))

    def admit(self, consult_id: int, now: datetime) -> LiveConsult:
        """Admit the waiting patient; of concurrent admits exactly one wins."""
        return self._transition(consult_id, lambda c: state.admit(c, now, self.rules))

    def end(self, consult_id: int, now: datetime, by: str) -> LiveConsult:
        """End the consult; of concurrent ends exactly one wins."""
        return self._transition(consult_id, lambda c: state.end(c, now, by))

    def mark_no_show(self, consult_id: int, side: Side, now: datetime) -> LiveConsult:
        """Record that `side` never turned up."""
        return self._transition(consult_id, lambda c: state.mark_no_show(c, Side(side), now))

    def cancel(self, consult_id: int) -> LiveConsult:
        """Call the consult off before the call starts."""
        return self._transition(consult_id, state.cancel)

    def running_late(self, consult_id: int, minutes: int) -> LiveConsult:
        """Tell the waiting patient the physiotherapist is running late."""
        return self._transition(consult_id, lambda c: state.running_late(c, minutes))

    def claim_warning(self, consult_id: int, seconds_left: int) -> bool:
        """True for exactly one caller per consult and warning, across all processes."""
        added = self._claim_warning_script(
            keys=[self._consult_key(consult_id), self._warned_key(consult_id)],
            args=[int(seconds_left), self._keep_ms],
        )
        return int(cast(int, added)) == 1

    def _transition(
        self, consult_id: int, move: Callable[[LiveConsult], LiveConsult]
    ) -> LiveConsult:
        # Optimistic: read, apply the pure rule, write only if nobody touched the consult.
        key = self._consult_key(consult_id)
        with self.redis.pipeline() as pipe:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    pipe.watch(key)
                    current = _decode(cast(dict[str, str], pipe.hgetall(key)))
                    if current is None:
                        raise TransitionError("unknown_consult", f"no live consult {consult_id}")
                    moved = move(current)
                    if moved == current:
                        pipe.unwatch()
                        return current
                    pipe.multi()
                    self._queue_write(pipe, moved)
                    if moved.phase != current.phase:
                        self._queue_route(pipe, consult_id)
                    written = pipe.execute()
                    if moved.phase != current.phase:
                        self._routed(written[-1])
                    return moved
                except WatchError:
                    continue
        raise StoreBusy(f"consult {consult_id} kept changing; gave up after {_MAX_ATTEMPTS} tries")

    def _queue_route(self, pipe: Pipeline, consult_id: int) -> None:
        """Publish the consult's route from inside the transaction that changes its phase.
        EVAL with the script's text, not EVALSHA: after a Redis restart the script cache is
        empty, and a NOSCRIPT inside MULTI would silently skip the publish."""
        keys = [self._consult_key(consult_id), *self._route_keys(consult_id)]
        pipe.eval(
            LUA_PUBLISH_ROUTE_SCRIPT,
            len(keys),
            *keys,
            self.route_channel,
            consult_id,
            self._keep_ms,
        )

    # -- routes: what the signal relay needs, kept in each web process's memory ----------

    def on_route(self, listener: Callable[[Route], object]) -> None:
        """Hear every route this process publishes, as soon as its write is done (before
        the message on `route_channel` comes back), so the writer reads its own write."""
        self.route_listeners.append(listener)

    def _routed(self, raw: Any) -> None:
        route = Route.decode(raw) if raw else None
        if route is not None:
            for listener in self.route_listeners:
                listener(route)

    def route(self, consult_id: int) -> Route:
        """The consult's route as it stands, read in one atomic round trip."""
        active_patient, active_provider, version_key = self._route_keys(consult_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(version_key)
            pipe.hget(self._consult_key(consult_id), "phase")
            pipe.hget(active_patient, "sid")
            pipe.hget(active_provider, "sid")
            version, phase, patient, provider = pipe.execute()
        return Route(
            consult_id,
            int(version or 0),
            Phase(phase) if phase else None,
            patient or "",
            provider or "",
        )

    def _queue_write(self, pipe: Pipeline, c: LiveConsult) -> None:
        key = self._consult_key(c.consult_id)
        member = str(c.consult_id)
        mapping = _encode(c)
        pipe.hset(key, mapping=cast(Any, mapping))
        cleared = [name for name in _FIELDS if name not in mapping]
        if cleared:
            pipe.hdel(key, *cleared)
        if c.is_terminal:
            pipe.srem(self._live_key, member)
            pipe.zrem(self._lobby_key, member)
            pipe.zrem(self._ending_key, member)
            for each in self._keys_of(c.consult_id):
                pipe.expire(each, KEEP_AFTER_END)
            # The check-in answers (where the patient is, their emergency phone) only served
            # the call: they go in the same transaction that ends it, not 24 hours later.
            pipe.delete(self._note_key(c.consult_id, "checklist"))
            return
        pipe.sadd(self._live_key, member)
        if c.phase is Phase.WAITING and c.checked_in_at is not None:
            pipe.zadd(self._lobby_key, {member: c.checked_in_at.timestamp()})
        else:
            pipe.zrem(self._lobby_key, member)
        if c.phase is Phase.IN_CALL and c.call_ends_at is not None:
            pipe.zadd(self._ending_key, {member: c.call_ends_at.timestamp()})
        else:
            pipe.zrem(self._ending_key, member)

    # -- presence ---------------------------------------------------------------

    def join(
        self,
        consult_id: int,
        side: Side,
        sid: str,
        device: str,
        now: datetime,
        process: str = "",
        max_devices: int = 0,
        device_id: str = "",
    ) -> int:
        """Register a connected device for `side`; returns that side's device count.

        The side's first device becomes its active one (the one in the call); a later device
        waits while the active one is connected, or is away for less than the rejoin window.
        `device_id` recognises a device across reconnects (a new sid each time); without one,
        every socket is a device of its own.
        `process` names the web process holding the socket, so that the devices of a process
        that died without saying goodbye can be found and let go (`devices_of_dead_processes`).
        With `max_devices`, a device beyond that many is refused (`too_many_devices`)."""
        device_id = device_id or f"sid:{sid}"
        seen = json.dumps(
            {"since": _iso(now), "device": device, "process": process, "device_id": device_id}
        )
        answer = cast(
            list[int],
            self._join_script(
                keys=self._device_keys(consult_id, side),
                args=[
                    sid,
                    seen,
                    self._keep_ms,
                    max(0, int(max_devices)),
                    device_id,
                    int(now.timestamp() * 1000),
                    int(self.rules.rejoin_window.total_seconds() * 1000),
                    self.route_channel,
                    consult_id,
                ],
            ),
        )
        if len(answer) > 2:
            self._routed(answer[2])
        count = int(answer[0])
        if count == -3:
            raise TransitionError(
                "too_many_devices",
                f"This link is already open on {max_devices} devices. "
                "Close the consult on one of them, then try again.",
            )
        if count == -1:
            raise TransitionError("unknown_consult", f"no live consult {consult_id}")
        if count == -2:
            raise TransitionError("already_ended", f"consult {consult_id} is over")
        return count

    def leave(self, consult_id: int, side: Side, sid: str, now: datetime) -> int:
        """Drop a device; when the side's last device leaves, start its rejoin clock.
        An active device that leaves stays the active one while it is away."""
        answer = cast(
            list[Any],
            self._leave_script(
                keys=self._device_keys(consult_id, side),
                args=[
                    sid,
                    _iso(now),
                    self._keep_ms,
                    int(now.timestamp() * 1000),
                    self.route_channel,
                    consult_id,
                ],
            ),
        )
        if len(answer) > 1:
            self._routed(answer[1])
        return int(answer[0])

    def switch_device(self, consult_id: int, side: Side, to_sid: str) -> str:
        """Make the connected device `to_sid` the active one of `side`, atomically.
        Returns the sid that was active ('' if it was away)."""
        answer = cast(
            list[Any],
            self._switch_script(
                keys=[
                    self._consult_key(consult_id),
                    self._presence_key(consult_id, side),
                    self._active_key(consult_id, side),
                    *self._route_keys(consult_id),
                ],
                args=[to_sid, self._keep_ms, self.route_channel, consult_id],
            ),
        )
        code = int(answer[0])
        if code == 1:
            self._routed(answer[2])
        if code == -1:
            raise TransitionError("unknown_consult", f"no live consult {consult_id}")
        if code == -2:
            raise TransitionError("already_ended", "This consult has already ended.")
        if code == -4:
            raise TransitionError(
                "no_waiting_device", "That device is no longer connected to this consult."
            )
        if code == -5:
            raise TransitionError("already_active", "This device is already the one in the call.")
        return str(answer[1])

    def forget(self, consult_id: int) -> None:
        """Delete everything Redis holds about a consult's live room (its time changed)."""
        consult_key = self._consult_key(consult_id)
        keys: list[Any] = list(self.redis.scan_iter(match=f"{consult_key}:*", count=100))
        member = str(consult_id)
        gone = Route(consult_id, 0, None, forgotten=True)
        with self.redis.pipeline() as pipe:
            pipe.delete(consult_key, *keys)
            pipe.srem(self._live_key, member)
            pipe.zrem(self._lobby_key, member)
            pipe.zrem(self._ending_key, member)
            pipe.publish(self.route_channel, gone.encode())
            pipe.execute()
        self._routed(gone.encode())

    def process_alive(self, process: str, ttl_seconds: int) -> None:
        """A web process says it is alive (its devices are real) for `ttl_seconds`."""
        self.redis.set(f"{self.prefix}:process:{process}", "1", ex=ttl_seconds)

    def devices_of_dead_processes(
        self, consult_ids: list[int]
    ) -> dict[int, list[tuple[Side, str]]]:
        """(side, sid) per consult of devices whose web process has stopped saying it is
        alive. Two round trips however many consults: every clock tick of every process
        asks for all live consults."""
        with self.redis.pipeline(transaction=False) as pipe:
            for consult_id in consult_ids:
                for side in Side:
                    pipe.hgetall(self._presence_key(consult_id, side))
            raws = iter(pipe.execute())
        seen = {
            (consult_id, side): {
                sid: json.loads(device).get("process") for sid, device in next(raws).items()
            }
            for consult_id in consult_ids
            for side in Side
        }
        processes = sorted({p for devices in seen.values() for p in devices.values() if p})
        if not processes:
            return {}
        with self.redis.pipeline(transaction=False) as pipe:
            for process in processes:
                pipe.exists(f"{self.prefix}:process:{process}")
            alive = {p for p, exists in zip(processes, pipe.execute(), strict=True) if exists}
        stale: dict[int, list[tuple[Side, str]]] = {}
        for (consult_id, side), devices in seen.items():
            for sid, process in devices.items():
                if process and process not in alive:
                    stale.setdefault(consult_id, []).append((side, sid))
        return stale

    def active_sid(self, consult_id: int, side: Side) -> str | None:
        """The socket of the side's active device (the one in the call), None while away."""
        sid = cast(str | None, self.redis.hget(self._active_key(consult_id, side), "sid"))
        return sid or None

    def presence(self, consult_id: int) -> dict[Side, list[dict[str, str]]]:
        """Connected devices per side: sid, since (ISO) and device, oldest first."""
        with self.redis.pipeline(transaction=False) as pipe:
            for side in Side:
                pipe.hgetall(self._presence_key(consult_id, side))
            raws = pipe.execute()
        return {side: _devices(raw) for side, raw in zip(Side, raws, strict=True)}

    def snapshot(self, consult_id: int) -> LiveSnapshot:
        """Everything the pages and the monitor show of a consult, in one round trip."""
        return self.snapshots([consult_id])[consult_id]

    def snapshots(self, consult_ids: list[int]) -> dict[int, LiveSnapshot]:
        """`snapshot` of each of these consults, all in one round trip."""
        per_consult = 1 + len(SNAPSHOT_NOTES) + 2 * len(Side)
        with self.redis.pipeline(transaction=False) as pipe:
            for consult_id in consult_ids:
                pipe.hgetall(self._consult_key(consult_id))
                for name in SNAPSHOT_NOTES:
                    pipe.hgetall(self._note_key(consult_id, name))
                for side in Side:
                    pipe.hgetall(self._presence_key(consult_id, side))
                    pipe.hget(self._active_key(consult_id, side), "sid")
            answers = pipe.execute()
        return {
            consult_id: _snapshot_of(
                consult_id, answers[index * per_consult : (index + 1) * per_consult]
            )
            for index, consult_id in enumerate(consult_ids)
        }

    def waiting_devices(self, consult_id: int, side: Side) -> list[str]:
        """Sids of `side`'s connected devices that are not the active one, newest first."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._presence_key(consult_id, side))
            pipe.hget(self._active_key(consult_id, side), "sid")
            raw, active = pipe.execute()
        since = {sid: json.loads(seen).get("since", "") for sid, seen in raw.items()}
        waiting = [sid for sid in since if sid != active]
        return sorted(waiting, key=lambda sid: (since[sid], sid), reverse=True)

    def gone_since(self, consult_id: int, side: Side) -> datetime | None:
        """When `side`'s last device left, or None while it is connected or never came."""
        return _when_gone(cast(str | None, self.redis.get(self._gone_key(consult_id, side))))
