"""The TURN path, really exercised: a real coturn (Debian's package, use-auth-secret, as the
compose file runs it) inside the test's network namespace.

A patient behind a strict firewall has no other path than the relay. Here both peers are
forced to it (ICE_TRANSPORT_POLICY=relay): the call carries video both ways and the pair ICE
selected is relay on both sides. coturn relays with the credentials our server makes and
refuses a forged or expired one with 401, as a stranger who copied a credential would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

from telehealth.client import connect_both, credential_from_join_url, join_call
from telehealth.signaling.ice import ice_servers, turn_credential
from tests.services import Coturn
from tests.waiting import wait_until_async

STAFF_EMAIL = "physio@demo.clinic"
STAFF_PASSWORD = "demo"  # noqa: S105 (the demo clinic's published login)
STEP = 15.0
PEER_HOST = "127.0.0.2"  # the namespace's address for host candidates (tests/netns.py)


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    server = Coturn(tmp_path_factory.mktemp("coturn"), secrets.token_hex(32)).start()
    yield server
    server.stop()


class Inbox(asyncio.DatagramProtocol):
    """Datagrams as they arrive, with their source address."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, tuple[str, int]]] = []
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append((data, addr))


async def allocate(coturn: Coturn, username: str, password: str) -> tuple[Any, Inbox]:
    """A TURN allocation over UDP, as a browser's ICE agent makes one."""
    return await create_turn_endpoint(
        Inbox, (Coturn.ADDRESS, coturn.port), username=username, password=password
    )


def credential_from_our_server(coturn: Coturn) -> tuple[str, str]:
    """The username and password the web process hands a participant (its own function)."""
    ice = ice_servers(
        stun_urls="",
        turn_urls=coturn.url,
        turn_secret=coturn.secret,
        ttl=600,
        user_tag="c1:patient",
        now=time.time(),
    )
    server = ice["iceServers"][0]
    return server["username"], server["credential"]


def test_coturn_relays_ten_of_ten_packets_with_the_credentials_our_server_makes(coturn):
    async def scenario() -> tuple[list[Any], list[Any], tuple[str, int]]:
        loop = asyncio.get_running_loop()
        relay, relayed = await allocate(coturn, *credential_from_our_server(coturn))
        peer_transport, peer = await loop.create_datagram_endpoint(Inbox, local_addr=(PEER_HOST, 0))
        try:
            peer_address = peer_transport.get_extra_info("sockname")
            for n in range(10):
                relay.sendto(f"packet {n}".encode(), peer_address)
            await wait_until_async(lambda: len(peer.received) == 10, 5, "10 packets relayed")
            for data, source in peer.received:  # answered to the relayed address
                peer_transport.sendto(b"back " + data, source)
            await wait_until_async(lambda: len(relayed.received) == 10, 5, "10 packets back")
            return peer.received, relayed.received, relay.get_extra_info("sockname")
        finally:
            peer_transport.close()
            relay.close()

    sent, back, relayed_address = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert sorted(d for d, _ in sent) == sorted(f"packet {n}".encode() for n in range(10))
    assert {source for _, source in sent} == {tuple(relayed_address)}  # from coturn's relay
    assert sorted(d for d, _ in back) == sorted(b"back " + d for d, _ in sent)


def _refusal(coturn: Coturn, username: str, password: str) -> int:
    async def scenario() -> int:
        with pytest.raises(stun.TransactionFailed) as refused:
            relay, _ = await allocate(coturn, username, password)
            relay.close()
        return int(refused.value.response.attributes["ERROR-CODE"][0])

    return asyncio.run(asyncio.wait_for(scenario(), 30))


def test_coturn_refuses_a_credential_signed_with_another_secret(coturn):
    username = f"{int(time.time()) + 600}:c1:patient"
    forged = turn_credential("a-secret-guessed-by-an-attacker", username)
    assert _refusal(coturn, username, forged) == 401


def test_coturn_refuses_an_expired_credential(coturn):
    # Correctly signed, but its hour is over: a credential copied out of an old call.
    username = f"{int(time.time()) - 60}:c1:patient"
    assert _refusal(coturn, username, turn_credential(coturn.secret, username)) == 401


def test_coturn_refuses_a_credential_whose_expiry_was_moved(coturn):
    # The attacker keeps the password of an expired credential and extends its username.
    old = f"{int(time.time()) - 60}:c1:patient"
    extended = f"{int(time.time()) + 3600}:c1:patient"
    assert _refusal(coturn, extended, turn_credential(coturn.secret, old)) == 401


def selected_pair(peer: Any) -> Any:
    """The candidate pair ICE nominated for this peer's media (aiortc bundles all of it)."""
    transceiver = peer.pc.getTransceivers()[0]
    connection = transceiver.receiver.transport.transport.iceGatherer._connection
    return connection._nominated.get(1)


def test_a_relay_only_consult_sends_video_both_ways_through_coturn(live_server_factory, coturn):
    server = live_server_factory(
        TURN_URLS=coturn.url, TURN_SECRET=coturn.secret, ICE_TRANSPORT_POLICY="relay"
    )
    booked = server.book_now()
    credential = credential_from_join_url(booked["join_url"])

    async def scenario() -> dict[str, Any]:
        async with contextlib.AsyncExitStack() as stack:
            patient, provider = await connect_both(
                stack, server.url, credential, STAFF_EMAIL, STAFF_PASSWORD, booked["id"]
            )
            await patient.check_in(timeout=STEP)
            await provider.admit(timeout=STEP)
            peers = await asyncio.gather(
                join_call(stack, patient, "patient", timeout=STEP),
                join_call(stack, provider, "provider", timeout=STEP),
            )
            await asyncio.gather(*(p.wait_for_frames(video=10, timeout=STEP) for p in peers))
            pairs = [selected_pair(p) for p in peers]
            return {
                "relay_only": [p.relay_only for p in peers],
                "frames": [p.received.video_frames for p in peers],
                "pairs": [
                    (pair.local_candidate.type, pair.remote_candidate.type) if pair else None
                    for pair in pairs
                ],
                "addresses": [
                    (pair.local_candidate.host, pair.remote_candidate.host) if pair else None
                    for pair in pairs
                ],
            }

    seen = asyncio.run(asyncio.wait_for(scenario(), 90))
    print(f"\nrelay-only consult: frames {seen['frames']}, pairs {seen['pairs']}")
    assert seen["relay_only"] == [True, True]  # the server told both sides: relay only
    assert all(n >= 10 for n in seen["frames"]), seen["frames"]  # video both ways
    assert seen["pairs"] == [("relay", "relay"), ("relay", "relay")], seen["pairs"]
    # Neither side's media left from or went to a host address: both ends are coturn's.
    assert seen["addresses"] == [(Coturn.ADDRESS, Coturn.ADDRESS)] * 2, seen["addresses"]
