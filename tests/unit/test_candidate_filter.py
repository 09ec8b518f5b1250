"""The media worker's candidate filter: what a patient's SDP may make it send STUN to."""

from __future__ import annotations

import asyncio

import pytest

from telehealth.media.candidates import (
    CandidatePolicy,
    candidate_address,
    filter_sdp,
    relay_only_sdp,
)

PUBLIC_ONLY = CandidatePolicy.from_settings("")
TESTS = CandidatePolicy.from_settings("127.0.0.0/8")


def line(address: str, kind: str = "host") -> str:
    return f"a=candidate:1 1 udp 2130706431 {address} 9999 typ {kind}\r\n"


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # cloud metadata service
        "169.254.0.1",
        "fe80::1",
        "0.0.0.0",
        "::",
        "224.0.0.251",
        "ff02::fb",
        "::ffff:169.254.169.254",
        "10.0.0.5",  # private: not unless the deployment lists it
        "192.168.1.10",
        "127.0.0.1",
        "printer.local",  # mDNS: cannot be vetted before it resolves
        "not an address",
    ],
)
def test_by_default_only_public_addresses_are_checked(address):
    assert not PUBLIC_ONLY.allows(address)


@pytest.mark.parametrize("address", ["8.8.4.4", "2001:4860:4860::8888", "[2606:4700::1111]"])
def test_public_addresses_are_checked(address):
    assert PUBLIC_ONLY.allows(address)


def test_listed_networks_are_checked_but_never_link_local_or_denied():
    policy = CandidatePolicy.from_settings("127.0.0.0/8, 169.254.0.0/16, 10.0.0.0/8", "10.9.0.0/16")
    assert policy.allows("127.0.0.2")
    assert policy.allows("10.1.2.3")
    assert not policy.allows("10.9.0.1")
    assert not policy.allows("169.254.169.254")


def test_a_public_address_on_the_deny_list_is_not_checked():
    assert not CandidatePolicy.from_settings("", "203.0.113.0/24, 8.8.8.8/32").allows("8.8.8.8")


def test_the_connection_address_is_read_from_every_candidate_form():
    text = "candidate:7 1 udp 1686052607 203.0.113.9 5000 typ srflx raddr 10.0.0.2 rport 5000"
    assert candidate_address(text) == "203.0.113.9"
    assert candidate_address("a=" + text) == "203.0.113.9"
    assert candidate_address(text.removeprefix("candidate:")) == "203.0.113.9"
    assert candidate_address("candidate:garbage") is None


def test_an_offer_naming_the_metadata_address_loses_that_candidate_only():
    sdp = (
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        + line("127.0.0.2")
        + line("169.254.169.254")
        + line("fe80::1")
        + line("8.8.8.8", "srflx")
        + "a=end-of-candidates\r\n"
    )
    kept, dropped = filter_sdp(sdp, TESTS)
    assert dropped == 2
    assert "169.254.169.254" not in kept and "fe80::1" not in kept
    assert line("127.0.0.2") in kept and line("8.8.8.8", "srflx") in kept
    assert kept.startswith("v=0\r\n") and kept.endswith("a=end-of-candidates\r\n")


def test_relay_only_keeps_the_turn_candidates_alone():
    sdp = (
        "v=0\r\n" + line("192.0.2.1") + line("198.51.100.7", "srflx") + line("203.0.113.5", "relay")
    )
    assert relay_only_sdp(sdp) == "v=0\r\n" + line("203.0.113.5", "relay")


def _offer_of(policy: str) -> str:
    from telehealth.client.peer import CallPeer, direct_pair

    async def scenario() -> str:
        ours, theirs = direct_pair()
        peer = CallPeer("provider", transport_policy=policy)
        peer.start(ours)
        try:
            offer = await theirs.receive_signal(timeout=10)
        finally:
            await peer.close()
        return str(offer["description"]["sdp"])

    return asyncio.run(scenario())


def _candidates(sdp: str) -> list[str]:
    return [ln for ln in sdp.splitlines() if ln.startswith("a=candidate:")]


def test_a_relay_only_aiortc_peer_offers_no_address_of_its_own():
    assert _candidates(_offer_of("all")), "this machine gave aiortc no address to offer"
    relay_only = _offer_of("relay")
    assert "m=video" in relay_only
    assert _candidates(relay_only) == []
