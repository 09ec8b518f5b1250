"""What the clinic keeps in SQL: providers, their hours, consults, staff and the audit log."""

from __future__ import annotations

import enum
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, UTCDateTime, utcnow
from .domain.measurements import measurement_summary


class Profession(enum.StrEnum):
    PHYSIOTHERAPIST = "physiotherapist"
    MASSAGE_THERAPIST = "massage_therapist"


COLLEGES = {
    Profession.PHYSIOTHERAPIST: "College of Physiotherapists of Ontario",
    Profession.MASSAGE_THERAPIST: "College of Massage Therapists of Ontario",
}


class ConsultStatus(enum.StrEnum):
    """The lasting status in SQL; the live state (waiting, in call) is kept in Redis."""

    BOOKED = "booked"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW_PATIENT = "no_show_patient"
    NO_SHOW_PROVIDER = "no_show_provider"


# Statuses that hold a slot: a cancelled consult frees its slot for someone else.
SLOT_HOLDING = (
    ConsultStatus.BOOKED,
    ConsultStatus.COMPLETED,
    ConsultStatus.NO_SHOW_PATIENT,
    ConsultStatus.NO_SHOW_PROVIDER,
)


class StaffRole(enum.StrEnum):
    PHYSIOTHERAPIST = "physiotherapist"
    ADMIN = "admin"


class Provider(Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    profession: Mapped[str] = mapped_column(String(32))
    designations: Mapped[list[str]] = mapped_column(JSON, default=list)
    college: Mapped[str] = mapped_column(String(120))
    registration_number: Mapped[str] = mapped_column(String(32))
    bio: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Only physiotherapists run the free consult; RMTs are listed for treatment.
    offers_free_consult: Mapped[bool] = mapped_column(Boolean, default=True)
    # The languages this provider consults in ('en', 'fr'): the directory can filter on French.
    languages: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["en"])

    weekly_hours: Mapped[list[WeeklyHours]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", order_by="WeeklyHours.weekday"
    )
    time_off: Mapped[list[TimeOff]] = relationship(
        back_populates="provider", cascade="all, delete-orphan"
    )

    def to_public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "profession": self.profession,
            "designations": list(self.designations or []),
            "college": self.college,
            "registration_number": self.registration_number,
            "bio": self.bio,
            "offers_free_consult": self.offers_free_consult,
            "languages": list(self.languages or ["en"]),
        }


class WeeklyHours(Base):
    """A provider's recurring consult hours, in the clinic's local wall-clock time."""

    __tablename__ = "weekly_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)

    provider: Mapped[Provider] = relationship(back_populates="weekly_hours")


class TimeOff(Base):
    __tablename__ = "time_off"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(200), default="")

    provider: Mapped[Provider] = relationship(back_populates="time_off")


class ConsultSettings(Base):
    """The clinic-wide rules of the free consult; one row."""

    __tablename__ = "consult_settings"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    length_minutes: Mapped[int] = mapped_column(Integer, default=20)
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=10)
    minimum_notice_minutes: Mapped[int] = mapped_column(Integer, default=120)
    horizon_days: Mapped[int] = mapped_column(Integer, default=56)
    lobby_opens_minutes: Mapped[int] = mapped_column(Integer, default=10)


class Patient(Base):
    """What the consult needs to know about a person, and no more."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Consult(Base):
    __tablename__ = "consults"
    __table_args__ = (
        # The database itself refuses a second live booking of the same slot.
        Index(
            "uq_consult_live_slot",
            "provider_id",
            "starts_at",
            unique=True,
            sqlite_where=text("status != 'cancelled'"),
            postgresql_where=text("status != 'cancelled'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(24), default=ConsultStatus.BOOKED)
    reason: Mapped[str] = mapped_column(String(500))
    consent_version: Mapped[str] = mapped_column(String(32))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Credentials are derived from these random nonces with the server secret;
    # only their hashes are looked up, so a database dump holds no usable link.
    join_nonce: Mapped[str] = mapped_column(String(64))
    join_hash: Mapped[str] = mapped_column(String(64), unique=True)
    manage_nonce: Mapped[str] = mapped_column(String(64))
    manage_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ics_sequence: Mapped[int] = mapped_column(Integer, default=0)
    # The language the booking was made in ('en', 'fr'): its emails, invite and the pages
    # behind its links speak it. Per consult, as one person may book once in each language.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    is_probe: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_24h_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_1h_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(32), nullable=True)

    provider: Mapped[Provider] = relationship()
    patient: Mapped[Patient] = relationship()


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(24))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set by an admin's reset: the person chooses a new one at their next login.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    must_enrol_totp: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    provider: Mapped[Provider | None] = relationship()


class WebSession(Base):
    """A browser's session, kept on the server; the cookie holds only a random id.

    In SQL rather than Redis so that a Redis restart (it keeps no files) logs nobody out,
    and a revoked session stays revoked. Only a SHA-256 of the id is stored, so a database
    dump holds no usable session."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEvent(Base):
    """Append-only: the database refuses UPDATE and DELETE on this table."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48), index=True)
    consult_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Recommendation(enum.StrEnum):
    PHYSIOTHERAPY = "physiotherapy"
    MASSAGE_THERAPY = "massage_therapy"
    BOTH = "both"
    REFERRAL = "referral"
    NONE = "none"


RECOMMENDATION_LABELS = {
    Recommendation.PHYSIOTHERAPY: "Physiotherapy",
    Recommendation.MASSAGE_THERAPY: "Massage therapy",
    Recommendation.BOTH: "Physiotherapy and massage therapy",
    Recommendation.REFERRAL: "Referral elsewhere",
    Recommendation.NONE: "No treatment needed",
}


class ConsultOutcome(Base):
    """What the physiotherapist recommended; the notes are private to the clinic."""

    __tablename__ = "consult_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    consult_id: Mapped[int] = mapped_column(
        ForeignKey("consults.id", ondelete="CASCADE"), unique=True
    )
    recommendation: Mapped[str] = mapped_column(String(24))
    private_notes: Mapped[str] = mapped_column(Text, default="")
    message_to_patient: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConsultMeasurement(Base):
    """A joint angle the physiotherapist measured on a frozen frame of the call (the
    image itself is never sent or kept: only the number and what it measures).

    A deleted measurement keeps its row with `deleted_at` set, so that a clinical record
    shows what was corrected, and a deletion can be undone."""

    __tablename__ = "consult_measurements"
    __table_args__ = (
        CheckConstraint("degrees >= 0 AND degrees <= 180", name="ck_measurement_degrees"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consult_id: Mapped[int] = mapped_column(
        ForeignKey("consults.id", ondelete="CASCADE"), index=True
    )
    joint: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(8))
    movement: Mapped[str] = mapped_column(String(24))
    mode: Mapped[str] = mapped_column(String(8))
    degrees: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    taken_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def summary(self) -> str:
        """'knee, right, flexion, active, 93°'."""
        return measurement_summary(self.joint, self.side, self.movement, self.mode, self.degrees)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "consult_id": self.consult_id,
            "joint": self.joint,
            "side": self.side,
            "movement": self.movement,
            "mode": self.mode,
            "degrees": self.degrees,
            "taken_at": self.taken_at.isoformat(),
            "taken_by": self.taken_by,
            "summary": self.summary(),
        }
