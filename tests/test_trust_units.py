"""Unit tests of the small parts behind issue 9: scrubbing, escaping, entries, bindings."""

from __future__ import annotations

import json

import pytest

from kaskada._secret import MASK, Secret, scrub
from kaskada.cli._output import printable
from kaskada.credentials.binding import binding_of, changed_fields
from kaskada.credentials.keyring import decode_entry, encode_entry


def test_scrub_finds_every_spelling_a_request_carries() -> None:
    secret = "a+b/c=d&e f\"g"
    text = " | ".join(
        [secret, "a%2Bb%2Fc%3Dd%26e%20f%22g", "a%2Bb%2Fc%3Dd%26e+f%22g", json.dumps(secret)]
    )
    scrubbed = scrub(text, Secret(secret), None)
    assert "c=d" not in scrubbed and "c%3Dd" not in scrubbed
    assert scrubbed.count(MASK) == 4


def test_scrub_leaves_text_without_the_secret_alone() -> None:
    assert scrub("nothing to see", Secret("hidden-value"), "") == "nothing to see"


def test_printable_escapes_controls_and_bidi_but_keeps_text() -> None:
    assert printable("ok\x1b]0;t\x07\u202eé\u2066") == "ok\\x1b]0;t\\x07\\u202eé\\u2066"
    assert printable("plain text, naïve") == "plain text, naïve"


@pytest.mark.parametrize(
    "raw",
    [
        "bare-0.1-secret",
        "{not json",
        '{"v": 1, "secret": "x", "binding": {}}',
        '{"v": 2, "secret": 5, "binding": {}}',
    ],
)
def test_anything_but_a_v2_entry_reads_as_a_bare_secret_without_binding(raw: str) -> None:
    entry = decode_entry(raw)
    assert entry.binding is None and entry.secret.reveal() == raw


def test_an_entry_round_trips_and_never_shows_its_secret() -> None:
    binding = binding_of({"client_id": "id", "exchange_endpoint": "auth.example.com"})
    entry = decode_entry(encode_entry(Secret("s3cret-value"), binding))
    assert entry.secret.reveal() == "s3cret-value" and entry.binding == binding
    assert "s3cret-value" not in repr(entry)


def test_a_binding_is_completed_as_resolution_completes_a_profile() -> None:
    bound = binding_of({"client_id": "id", "endpoint": "api.example.com:443",
                        "exchange_endpoint": "auth.example.com"})  # fmt: skip
    assert bound["exchange_endpoint"] == "https://auth.example.com/oauth/token"
    assert bound["is_secure"] is True
    local = binding_of({"client_id": "id"})
    assert local["endpoint"] == "localhost:50051" and local["is_secure"] is False
    assert changed_fields(local, local) == []
    assert changed_fields({**local, "audience": "x"}, local) == ["audience"]
    assert changed_fields({}, local) == list(local)  # a field missing from an entry differs
