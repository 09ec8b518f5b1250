"""TURN credentials (coturn use-auth-secret) and the per-socket token bucket."""

from __future__ import annotations

import base64
import hashlib
import hmac

from telehealth.signaling.ice import ice_servers
from telehealth.signaling.throttle import TokenBucket


def test_turn_credentials_expire_within_an_hour_and_match_coturns_formula():
    config = ice_servers(
        stun_urls="stun:turn.example:3478",
        turn_urls="turn:turn.example:3478?transport=udp, turns:turn.example:443",
        turn_secret="s3cret",
        ttl=3600,
        user_tag="c12-patient",
        now=1_000_000,
    )
    stun, turn = config["iceServers"]
    assert stun == {"urls": ["stun:turn.example:3478"]}
    assert turn["urls"] == ["turn:turn.example:3478?transport=udp", "turns:turn.example:443"]
    expiry, tag = turn["username"].split(":")
    assert int(expiry) == 1_000_000 + 3600 and tag == "c12-patient"
    expected = base64.b64encode(
        hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()
    ).decode()
    assert turn["credential"] == expected


def test_no_turn_without_a_secret_and_no_public_stun_by_default():
    assert (
        ice_servers(
            stun_urls="", turn_urls="turn:x:3478", turn_secret="", ttl=3600, user_tag="t", now=0
        )["iceServers"]
        == []
    )


def test_bucket_lets_a_burst_through_then_throttles_and_refills():
    bucket = TokenBucket(rate=10, burst=5)
    assert [bucket.allow(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.allow(0.1)  # one token back after 100 ms at 10/s
    assert not bucket.flooding


def test_a_socket_that_keeps_sending_while_throttled_is_flooding():
    bucket = TokenBucket(rate=1, burst=3)
    for _ in range(10):
        bucket.allow(0.0)
    assert bucket.flooding
