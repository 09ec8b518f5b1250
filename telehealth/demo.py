"""Demo data for `make run`: a clinic with staff logins and weekly hours."""

from __future__ import annotations

from datetime import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .domain.wording import N_
from .models import COLLEGES, ConsultSettings, Profession, Provider, StaffRole, WeeklyHours
from .staff.accounts import create_staff_user

DEMO_PASSWORD = "demo"  # noqa: S105 - demo mode only, printed at start
# Admins must use TOTP; the demo admin's key is printed so it can go into an authenticator app.
DEMO_ADMIN_TOTP_SECRET = "JBSWY3DPEHPK3PXPDEMOADMINTOTP234"  # noqa: S105 - demo mode only
DEMO_LOGINS = (("admin@demo.clinic", "admin"), ("physio@demo.clinic", "physiotherapist"))

PROVIDERS: list[dict[str, Any]] = [
    {
        "name": "Priya Raman",
        "email": "physio@demo.clinic",
        "profession": Profession.PHYSIOTHERAPIST,
        "registration_number": "PT-18342",
        "designations": [N_("Physiotherapist"), N_("Dry Needling Provider")],
        # The demo's own text is in the catalog, so the French directory reads French.
        "bio": N_(
            "Priya treats sports injuries, knee and shoulder pain, and helps runners get back "
            "on the road."
        ),
        "hours": [(d, time(9), time(17)) for d in range(5)],
    },
    {
        "name": "Marco Bellini",
        "email": "marco@demo.clinic",
        "profession": Profession.PHYSIOTHERAPIST,
        "registration_number": "PT-20917",
        "designations": [
            N_("Physiotherapist"),
            N_("Hydrotherapist"),
            N_("Pelvic Floor Physiotherapist"),
        ],
        "bio": N_(
            "Marco focuses on back and neck pain, mobility after surgery and pelvic-floor "
            "rehabilitation."
        ),
        "languages": ["en", "fr"],
        "hours": [(d, time(12), time(20)) for d in (1, 2, 3)] + [(5, time(9), time(13))],
    },
    {
        "name": "Hannah Okafor",
        "email": "hannah@demo.clinic",
        "profession": Profession.MASSAGE_THERAPIST,
        "registration_number": "RMT-U7731",
        "designations": [N_("Registered Massage Therapist")],
        "bio": N_("Hannah relieves muscle tension, trigger points and connective-tissue problems."),
        "hours": [],
    },
]


def demo_seeded(session: Session) -> bool:
    return session.scalar(select(Provider.id).limit(1)) is not None


def seed_demo(session: Session) -> bool:
    """Create the demo clinic once; returns False when data already exists."""
    if demo_seeded(session):
        return False
    session.merge(ConsultSettings(id=1))
    providers = [_demo_provider(session, spec) for spec in PROVIDERS]
    admin = create_staff_user(
        session,
        email="admin@demo.clinic",
        name="Clinic Admin",
        password=DEMO_PASSWORD,
        allow_weak=True,  # the published demo logins; seed-demo runs in demo mode only
        role=StaffRole.ADMIN,
    )
    admin.totp_secret = DEMO_ADMIN_TOTP_SECRET
    create_staff_user(
        session,
        email="physio@demo.clinic",
        name=providers[0].name,
        password=DEMO_PASSWORD,
        allow_weak=True,  # the published demo logins; seed-demo runs in demo mode only
        role=StaffRole.PHYSIOTHERAPIST,
        provider=providers[0],
    )
    create_staff_user(
        session,
        email="marco@demo.clinic",
        name=providers[1].name,
        password=DEMO_PASSWORD,
        allow_weak=True,  # the published demo logins; seed-demo runs in demo mode only
        role=StaffRole.PHYSIOTHERAPIST,
        provider=providers[1],
    )
    return True


def _demo_provider(session: Session, spec: dict[str, Any]) -> Provider:
    profession = spec["profession"]
    provider = Provider(
        name=spec["name"],
        email=spec["email"],
        profession=profession,
        designations=spec["designations"],
        college=COLLEGES[profession],
        registration_number=spec["registration_number"],
        bio=spec["bio"],
        active=True,
        offers_free_consult=profession == Profession.PHYSIOTHERAPIST,
        languages=spec.get("languages", ["en"]),
    )
    provider.weekly_hours = [WeeklyHours(weekday=d, starts=s, ends=e) for d, s, e in spec["hours"]]
    session.add(provider)
    session.flush()
    return provider
