"""The OpenAPI 3.1 description of /api/v1, kept beside the views it describes."""

from __future__ import annotations

from typing import Any

from ..domain.booking_rules import BOOKING_LANGUAGES


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


BOOKING_ID = {
    "name": "booking_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
MANAGE_AUTH: list[dict[str, list[str]]] = [{"manageCredential": []}]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "fields"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        },
    },
    "Provider": {
        "type": "object",
        "required": ["id", "name", "profession", "designations", "college", "registration_number"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "profession": {"type": "string", "enum": ["physiotherapist", "massage_therapist"]},
            "designations": {"type": "array", "items": {"type": "string"}},
            "college": {"type": "string"},
            "registration_number": {"type": "string"},
            "bio": {"type": "string"},
            "offers_free_consult": {"type": "boolean"},
            "languages": {
                "description": "The languages they consult in",
                "type": "array",
                "items": {"type": "string", "enum": list(BOOKING_LANGUAGES)},
            },
        },
    },
    "Slot": {
        "type": "object",
        "required": ["provider_id", "start", "end"],
        "properties": {
            "provider_id": {"type": "integer"},
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
        },
    },
    "Slots": {
        "type": "object",
        "required": ["timezone", "slots"],
        "properties": {
            "timezone": {"type": "string", "const": "America/Toronto"},
            "slots": {"type": "array", "items": {"$ref": "#/components/schemas/Slot"}},
        },
    },
    "BookingRequest": {
        "type": "object",
        "required": ["provider_id", "start", "patient", "reason", "consent"],
        "properties": {
            "provider_id": {"type": "integer"},
            "start": {"type": "string", "format": "date-time"},
            "patient": {
                "type": "object",
                "required": ["name", "email", "phone"],
                "properties": {
                    "name": {"type": "string", "maxLength": 120},
                    "email": {"type": "string", "format": "email"},
                    "phone": {"type": "string"},
                },
            },
            "reason": {"type": "string", "maxLength": 500},
            "consent": {"type": "boolean", "const": True},
            "language": {
                "description": "The language of the patient's emails, invite and pages "
                "(default: the request's Accept-Language, else English)",
                "type": "string",
                "enum": list(BOOKING_LANGUAGES),
            },
        },
    },
    "Booking": {
        "type": "object",
        "required": ["id", "provider_id", "start", "end"],
        "properties": {
            "id": {"type": "integer"},
            "provider_id": {"type": "integer"},
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
            "status": {"type": "string"},
            "join_url": {"type": "string", "format": "uri"},
            "manage_url": {"type": "string", "format": "uri"},
        },
    },
    "Reschedule": {
        "type": "object",
        "required": ["start"],
        "properties": {"start": {"type": "string", "format": "date-time"}},
    },
}


def _paths() -> dict[str, Any]:
    rate_limited = _error_response("Too many requests from this client")
    return {
        "/providers": {
            "get": {
                "summary": "Active providers and their credentials",
                "parameters": [
                    {
                        "name": "language",
                        "in": "query",
                        "required": False,
                        "description": "Only providers who consult in this language",
                        "schema": {"type": "string", "enum": list(BOOKING_LANGUAGES)},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "Providers",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Provider"},
                                }
                            }
                        },
                    }
                },
            }
        },
        "/slots": {
            "get": {
                "summary": "Free consult slots between two local days (inclusive)",
                "parameters": [
                    {"name": "provider_id", "in": "query", "schema": {"type": "integer"}},
                    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                ],
                "responses": {
                    "200": _json("Slots", "Free slots"),
                    "422": _error_response("Bad dates or unknown provider"),
                },
            }
        },
        "/bookings": {
            "post": {
                "summary": "Book the free 20-minute consult",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/BookingRequest"}
                        }
                    },
                },
                "responses": {
                    "201": _json(
                        "Booking",
                        "Booked; the links are also emailed. An email address that already "
                        "had its free consult in the last 12 months gets the same answer "
                        "(links of the same form that open nothing) and no consult: the "
                        "reason is emailed to that address only, so the API never tells "
                        "anyone whether an address has consulted the clinic.",
                    ),
                    "400": _error_response("Body is not a JSON object"),
                    "409": _error_response("The slot is taken (code slot_taken)"),
                    "415": _error_response("Not JSON"),
                    "422": _error_response(
                        "Per-field errors (also: control or text-direction characters)"
                    ),
                    "429": _error_response(
                        "Too many requests from this client (rate_limited), too many "
                        "upcoming consults held from this client address (too_many_bookings), "
                        "or too many emails to this address (too_many_emails)"
                    ),
                },
            }
        },
        "/bookings/{booking_id}": {
            "parameters": [BOOKING_ID],
            "get": {
                "summary": "A booking",
                "security": MANAGE_AUTH,
                "responses": {
                    "200": _json("Booking", "The booking"),
                    "401": _error_response("No manage credential"),
                    "404": _error_response("Unknown booking or wrong credential"),
                    "429": rate_limited,
                },
            },
            "delete": {
                "summary": "Cancel",
                "security": MANAGE_AUTH,
                "responses": {
                    "200": _json("Booking", "Cancelled"),
                    "401": _error_response("No manage credential"),
                    "404": _error_response("Unknown booking or wrong credential"),
                    "409": _error_response("Already started, ended or cancelled"),
                    "429": _error_response(
                        "Too many requests from this client, or too many emails to this address"
                    ),
                },
            },
            "patch": {
                "summary": "Reschedule to another free slot",
                "security": MANAGE_AUTH,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Reschedule"}}
                    },
                },
                "responses": {
                    "200": _json("Booking", "Moved"),
                    "400": _error_response("Body is not a JSON object"),
                    "401": _error_response("No manage credential"),
                    "404": _error_response("Unknown booking or wrong credential"),
                    "409": _error_response("Slot taken or booking not changeable"),
                    "415": _error_response("Not JSON"),
                    "422": _error_response("Bad start"),
                    "429": _error_response(
                        "Too many requests from this client, or too many emails to this address"
                    ),
                },
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "telehealth consult API",
            "version": "1.0.0",
            "description": "Book the clinic's free 20-minute virtual consult. "
            "Times are ISO 8601 with an offset; the clinic is in "
            "America/Toronto.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"manageCredential": {"type": "http", "scheme": "bearer"}},
        },
    }
