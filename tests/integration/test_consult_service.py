"""The session service at its boundary, on real Redis and real SQL: every transition, every
refusal, and the failures between the two writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from telehealth.db import utcnow
from telehealth.models import AuditEvent, Consult
from telehealth.sessions import Phase, Side, TransitionError
from telehealth.sessions.records import record_end
from tests.consults import instant_consult

ANSWERS = {"location": "Vaughan, ON", "in_ontario": "yes", "emergency_phone": "9055550100"}


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False, NO_SHOW_SECONDS=120, REJOIN_WINDOW_SECONDS=60)


@pytest.fixture
def heard(demo_clinic):
    """Every event the service publishes, as '<change>:<reason>'."""
    events: list[str] = []
    demo_clinic.consults.subscribe(lambda e: events.append(f"{e.change}:{e.reason}"))
    return events


def _sql(clinic, consult_id):
    with clinic.db.sessions() as session:
        consult = session.get(Consult, consult_id)
        actions = list(
            session.scalars(select(AuditEvent.action).where(AuditEvent.consult_id == consult_id))
        )
    return consult, actions


def _open(clinic, minutes_from_now=0.0):
    booked = instant_consult(clinic, minutes_from_now=minutes_from_now)
    with clinic.db.sessions() as session:
        row = session.get(Consult, booked.id)
    clinic.consults.open_room(booked.id, row.starts_at, row.ends_at)
    return booked.id, row.starts_at


def _in_call(clinic, now):
    consult_id, start = _open(clinic)
    clinic.consults.check_in(consult_id, "patient:x", "Phone", ANSWERS, now)
    clinic.consults.admit(consult_id, "staff:2", now)
    return consult_id, start


def test_a_consult_from_check_in_to_its_end_writes_both_stores_and_tells(demo_clinic, heard):
    now = utcnow()
    consult_id, start = _in_call(demo_clinic, now)
    live = demo_clinic.consults.end(consult_id, "provider", "staff:2", now + timedelta(minutes=9))
    assert live is not None and live.phase is Phase.ENDED
    row, actions = _sql(demo_clinic, consult_id)
    assert row.status == "completed" and row.ended_by == "provider"
    assert row.checked_in_at is not None and row.admitted_at is not None
    assert {"consult.checked_in", "consult.admitted", "consult.ended"} <= set(actions)
    assert heard == ["checked_in:", "admitted:", "ended:ended_by_provider"]
    # Where the patient is and their emergency phone leave with the consult.
    assert demo_clinic.live.note(consult_id, "checklist") == {}


def test_refusals_change_nothing(demo_clinic, heard):
    now = utcnow()
    consult_id, start = _open(demo_clinic)
    with pytest.raises(TransitionError) as refused:
        demo_clinic.consults.admit(consult_id, "staff:2", now)
    assert refused.value.code == "not_waiting"
    with pytest.raises(TransitionError) as refused:
        demo_clinic.consults.mark_no_show(consult_id, Side.PATIENT, "staff:2", now, "provider")
    assert refused.value.code == "too_early"
    assert demo_clinic.consults.end(consult_id, "patient", "patient:x", now) is None
    row, actions = _sql(demo_clinic, consult_id)
    assert row.status == "booked" and demo_clinic.live.get(consult_id).phase is Phase.SCHEDULED
    assert heard == []


def test_the_first_terminal_status_stands(demo_clinic, heard):
    now = utcnow()
    consult_id, _ = _in_call(demo_clinic, now)
    assert demo_clinic.consults.end(consult_id, "clock", "system", now) is not None
    assert not demo_clinic.consults.cancel(consult_id, "patient", now)
    assert demo_clinic.consults.end(consult_id, "admin", "staff:1", now) is None
    row, _ = _sql(demo_clinic, consult_id)
    assert row.status == "completed" and row.ended_by == "clock"

    cancelled_id, _ = _open(demo_clinic, minutes_from_now=60)
    assert demo_clinic.consults.cancel(cancelled_id, "patient", now)
    later = now + timedelta(hours=2)
    demo_clinic.consults.tick(later)  # the clock must not make it a no-show
    row, _ = _sql(demo_clinic, cancelled_id)
    assert row.status == "cancelled"
    assert demo_clinic.live.get(cancelled_id).phase is Phase.CANCELLED


def test_no_show_only_after_the_wait_then_once(demo_clinic, heard):
    consult_id, start = _open(demo_clinic)
    service = demo_clinic.consults
    with pytest.raises(TransitionError):
        service.mark_no_show(
            consult_id, Side.PATIENT, "staff:2", start + timedelta(seconds=119), "provider"
        )
    service.mark_no_show(
        consult_id, Side.PATIENT, "staff:2", start + timedelta(seconds=121), "provider"
    )
    row, actions = _sql(demo_clinic, consult_id)
    assert row.status == "no_show_patient" and "consult.no_show_patient" in actions
    assert heard == ["no_show:no_show_patient"]


def test_redis_ended_but_sql_never_heard_is_finished_by_the_next_tick(demo_clinic, heard):
    now = utcnow()
    consult_id, _ = _in_call(demo_clinic, now)
    demo_clinic.live.end(consult_id, now, "patient")  # the process died before SQL
    assert _sql(demo_clinic, consult_id)[0].status == "booked"
    demo_clinic.consults.tick(now + timedelta(seconds=1))
    row, _ = _sql(demo_clinic, consult_id)
    assert row.status == "completed" and row.ended_by == "patient"


def test_sql_terminal_but_redis_live_follows_sql_on_the_next_tick(demo_clinic, heard):
    now = utcnow()
    waiting_id, _ = _open(demo_clinic)
    demo_clinic.consults.check_in(waiting_id, "patient:x", "Phone", ANSWERS, now)
    record_end(demo_clinic.db, waiting_id, "patient", "cancelled", "patient", now)
    in_call_id, _ = _in_call(demo_clinic, now)
    record_end(demo_clinic.db, in_call_id, "staff:1", "ended", "admin", now)
    heard.clear()
    demo_clinic.consults.tick(now + timedelta(seconds=1))
    assert demo_clinic.live.get(waiting_id).phase is Phase.CANCELLED
    assert demo_clinic.live.get(in_call_id).phase is Phase.ENDED
    assert _sql(demo_clinic, waiting_id)[0].status == "cancelled"  # never the other way
    assert sorted(heard) == ["cancelled:cancelled", "ended:ended"]


def test_start_up_reconciles_every_live_room(demo_clinic):
    now = utcnow()
    consult_id, _ = _in_call(demo_clinic, now)
    record_end(demo_clinic.db, consult_id, "staff:1", "ended", "admin", now)
    assert demo_clinic.consults.reconcile_all(now) >= 1
    assert demo_clinic.live.get(consult_id).phase is Phase.ENDED


def test_a_side_that_stays_away_past_the_rejoin_window_ends_the_call(demo_clinic, heard):
    now = utcnow()
    consult_id, _ = _in_call(demo_clinic, now)
    service = demo_clinic.consults
    service.device_joined(consult_id, Side.PATIENT, "sid-p", "Phone", now, "proc")
    service.device_joined(consult_id, Side.PROVIDER, "sid-s", "Laptop", now, "proc")
    service.device_left(consult_id, Side.PATIENT, "sid-p", now + timedelta(seconds=10))
    service.tick(now + timedelta(seconds=65))  # 55 s away: inside the window
    assert demo_clinic.live.get(consult_id).phase is Phase.IN_CALL
    service.device_joined(
        consult_id, Side.PATIENT, "sid-p2", "Phone", now + timedelta(seconds=66), "proc"
    )
    service.device_left(consult_id, Side.PATIENT, "sid-p2", now + timedelta(seconds=70))
    service.tick(now + timedelta(seconds=131))  # 61 s away this time
    live = demo_clinic.live.get(consult_id)
    assert live.phase is Phase.ENDED and live.ended_by == "clock"
    assert heard[-1] == "ended:patient_left"


def test_cancel_and_reschedule_close_the_live_room_and_tell(demo_clinic, heard):
    now = utcnow()
    cancelled_id, _ = _open(demo_clinic, minutes_from_now=5)
    demo_clinic.consults.check_in(cancelled_id, "patient:x", "Phone", ANSWERS, now)
    assert demo_clinic.consults.cancel(cancelled_id, "patient", now)
    assert demo_clinic.live.get(cancelled_id).phase is Phase.CANCELLED
    moved_id, _ = _open(demo_clinic, minutes_from_now=6)
    demo_clinic.consults.reschedule(moved_id)
    assert demo_clinic.live.get(moved_id) is None
    assert heard == ["checked_in:", "cancelled:cancelled", "rescheduled:rescheduled"]
