"""The pre-call check against a real media worker: echo, capacity, time limit."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import socketio

from telehealth.client.precheck import PrecheckBrowser
from tests.waiting import wait_until, wait_until_async


def _worker_says(server: Any, line: str) -> bool:
    return line in (server.instance / "media.log").read_text(errors="ignore")


def _wait_for_worker(server: Any, seconds: float = 20) -> None:
    wait_until(lambda: _worker_says(server, "media worker connected"), seconds, "worker connects")


async def _echo_when_free(server: Any, timeout: float = 10) -> PrecheckBrowser:
    """A check started as soon as the worker has a free place (it says `busy` until then)."""
    deadline = time.monotonic() + timeout
    while True:
        browser = PrecheckBrowser(server.url, server.book_now()["join_url"])
        assert (await browser.start())["ok"]
        done, _ = await asyncio.wait({browser.answer, browser.error}, timeout=10)
        if browser.answer in done:
            return browser
        await browser.close()
        assert time.monotonic() < deadline, "the worker never freed its place"


async def _echo_once(server: Any) -> PrecheckBrowser:
    browser = PrecheckBrowser(server.url, server.book_now()["join_url"])
    ack = await browser.start()
    assert ack["ok"], ack
    await asyncio.wait_for(browser.answer, 10)
    return browser


def test_precheck_loops_the_patients_video_back(live_server):
    live_server.start_media()
    _wait_for_worker(live_server)

    async def scenario() -> None:
        browser = await _echo_once(live_server)
        try:
            await browser.wait_frames(10)
        finally:
            await browser.close()

    asyncio.run(scenario())


def test_worker_refuses_beyond_its_cap_and_recovers(live_server):
    live_server.start_media(MEDIA_CAPACITY="1")
    _wait_for_worker(live_server)

    async def scenario() -> None:
        first = await _echo_once(live_server)
        second = PrecheckBrowser(live_server.url, live_server.book_now()["join_url"])
        try:
            assert (await second.start())["ok"]
            refused = await asyncio.wait_for(second.error, 10)
            assert refused["code"] == "busy" and "try the check again" in refused["message"]
            await first.wait_frames(5)
        finally:
            await first.close()
            await second.close()
        third = await _echo_when_free(live_server)  # the freed place is usable again
        try:
            await third.wait_frames(5)
        finally:
            await third.close()

    asyncio.run(scenario())


def test_a_check_past_its_time_limit_is_closed_and_freed(live_server):
    live_server.start_media(MEDIA_CAPACITY="1", MEDIA_CHECK_SECONDS="2")
    _wait_for_worker(live_server)

    async def scenario() -> None:
        first = await _echo_once(live_server)
        try:
            await first.wait_frames(5)
            await wait_until_async(
                lambda: _worker_says(live_server, "reached its time limit"), 10, "time limit"
            )
            frozen = first.frames
            # Capacity 1: a second check is only served once the first was freed.
            second = await _echo_when_free(live_server)
            try:
                await second.wait_frames(5)
            finally:
                await second.close()
            assert first.frames - frozen <= 2, "the echo kept running past its limit"
        finally:
            await first.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_media_namespace_refuses_clients_without_the_service_token(live_server, token):
    async def scenario() -> None:
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                live_server.url,
                namespaces=["/media"],
                transports=["websocket"],
                auth={"service_token": token},
                wait_timeout=5,
            )
        await client.disconnect()

    asyncio.run(scenario())
