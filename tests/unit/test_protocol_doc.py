"""docs/protocol.md's payload tables are generated from the schemas and must match them."""

from __future__ import annotations

from telehealth.protocol import docs


def test_the_protocol_doc_is_up_to_date_with_the_schemas():
    text = docs.DOC.read_text(encoding="utf-8")
    assert docs.render(text) == text, (
        "docs/protocol.md is out of date: run `python -m telehealth.protocol --markdown`"
    )


def test_every_documented_payload_has_a_table_and_every_client_event_a_row():
    text = docs.DOC.read_text(encoding="utf-8")
    for schema in docs.documented_schemas():
        assert f"#### {schema.__name__}\n" in text, schema
    for event in docs.CONSULT_CLIENT_EVENTS:
        assert f"| `{event.name}` |" in text, event.name


def test_a_changed_schema_makes_the_doc_stale():
    text = docs.DOC.read_text(encoding="utf-8")
    stale = text.replace("text of 1 to 120 characters", "text of 1 to 99 characters")
    assert stale != text and docs.render(stale) == text
