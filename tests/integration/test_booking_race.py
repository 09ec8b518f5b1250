"""Two people can never book the same slot, however many click at once."""

from __future__ import annotations

from sqlalchemy import func, select

from telehealth.booking.race import race_for_slot
from telehealth.models import Consult
from tests.helpers import free_slots


def test_500_concurrent_attempts_at_one_slot_give_exactly_one_201(app_factory):
    app = app_factory(BOOKING_RATE_LIMIT="100000 per minute")
    clinic = app.extensions["clinic"]
    from telehealth.demo import seed_demo

    with clinic.db.transaction() as session:
        seed_demo(session)
    slot = free_slots(app.test_client())[0]

    result = race_for_slot(app, slot, attempts=500)

    assert result.successes == 1, result.statuses
    assert result.conflicts == 499, result.statuses
    with clinic.db.sessions() as session:
        live = session.scalar(
            select(func.count()).select_from(Consult).where(Consult.status == "booked")
        )
    assert live == 1
