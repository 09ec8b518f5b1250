"""Times as people read them: English exactly as before, French through Babel, both in
Toronto's zone with the zone shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from telehealth.domain.availability import format_clock as english_clock
from telehealth.domain.availability import format_local as english_local
from telehealth.i18n_format import format_clock, format_day, format_local

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
)


@given(moments)
def test_english_reads_exactly_as_the_clinic_always_wrote_it(moment: datetime) -> None:
    assert format_local(moment, "en") == english_local(moment)
    assert format_clock(moment, "en") == english_clock(moment)


def test_english_outside_a_request_is_the_default() -> None:
    moment = datetime(2026, 12, 3, 19, 20, tzinfo=UTC)
    assert format_local(moment) == "Thursday, December 3, 2026 at 2:20 p.m. EST"


def test_french_spells_the_day_the_24_hour_clock_and_the_zone() -> None:
    winter = datetime(2026, 12, 3, 19, 20, tzinfo=UTC)
    summer = datetime(2027, 7, 3, 13, 5, tzinfo=UTC)
    assert format_local(winter, "fr") == "jeudi 3 décembre 2026, 14 h 20 HNE"
    assert format_clock(summer, "fr") == "9 h 05 HAE"
    assert format_day((winter - timedelta(days=3)).date(), "fr") == "lundi 30 novembre"
