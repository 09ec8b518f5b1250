"""The one rule for staff passwords, in plain Python."""

from __future__ import annotations

from flask_babel import gettext as _

MIN_LENGTH = 12

# The most used passwords of 12 characters or more in public breach corpora, and the
# clinic's own obvious words; compared case-insensitively and without spaces.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789123",
        "111111111111",
        "000000000000",
        "123123123123",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "qwertyuiopas",
        "qwerty123456",
        "qwertyuiop123",
        "qwertyqwerty",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "abcdefghijkl",
        "abcd12345678",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "welcome123456",
        "administrator",
        "administrator1",
        "changeme1234",
        "changemenow1",
        "trustno1trustno1",
        "football1234",
        "baseball1234",
        "sunshine1234",
        "princess1234",
        "monkey123456",
        "dragon123456",
        "superman1234",
        "starwars1234",
        "mypassword12",
        "mypassword123",
        "physiotherapy",
        "physiotherapy1",
        "physiotherapist",
        "massagetherapy",
        "telehealth123",
        "telehealth1234",
        "clinic123456",
        "vaughanclinic",
    }
)


def password_problem(password: str) -> str | None:
    """Why this password may not be used, in words for the person choosing it; None if fine."""
    if len(password) < MIN_LENGTH:
        return _("Use at least %(count)d characters.", count=MIN_LENGTH)
    squeezed = "".join(password.lower().split())
    if squeezed in COMMON_PASSWORDS or len(set(squeezed)) <= 2:
        return _("That password is too common. Choose a longer phrase of your own.")
    return None
