"""Summarise a py-spy `--format raw` profile (collapsed stacks) of our server, as
bench/README.md quotes it: where the busy samples go, by our functions (inclusive) and by
the frames that burn them (self).

    .venv/bin/python bench/profile_summary.py PROFILE-relay.txt [--top 15]

Idle samples (a greenlet waiting in the gevent hub's event loop, a socket read blocking)
are left out: the percentages are of the CPU the process spent.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\b(run \(gevent/hub|_poll|wait \(gevent/_hub|switch \(gevent/_greenlet)")
FRAME = re.compile(r"^(?P<func>\S+) \((?P<file>[^:]+)(?::\d+)?\)$")
WATCHED = (
    "on_connect",
    "_identify",
    "open_room",
    "_join_device",
    "tell_sockets",
    "send_state",
    "send_room_update",
    "send_ice_servers",
    "_relay_signal",
    "on_disconnect",
    "tick",
)


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "telehealth/"):
        if marker in file:
            file = (
                file.split(marker, 1)[1]
                if marker != "telehealth/"
                else "telehealth/" + file.split(marker, 1)[1]
            )
    return f"{match['func']} ({file})"


def summarise(path: Path, top: int) -> dict[str, object]:
    stacks = [(f, n) for f, n in parse(path) if not IDLE.search(f[-1])]
    total = sum(n for _, n in stacks) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    redis_samples = 0
    ours = 0
    for frames, count in stacks:
        names = {short(f).split(" ", 1)[0].rsplit(".", 1)[-1] for f in frames}
        for name in WATCHED:
            if name in names:
                inclusive[name] += count
        own[short(frames[-1])] += count
        if any("redis/" in f for f in frames):
            redis_samples += count
        if any("telehealth/" in f for f in frames):
            ours += count
    pct = lambda n: round(100 * n / total, 1)  # noqa: E731
    return {
        "busy_samples": total,
        "redis_client_pct": pct(redis_samples),
        "through_our_code_pct": pct(ours),
        "inclusive_pct": {name: pct(n) for name, n in inclusive.most_common()},
        "self_pct": {name: pct(n) for name, n in own.most_common(top)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    import json

    print(json.dumps(summarise(args.profile, args.top), indent=1))


if __name__ == "__main__":
    main()
