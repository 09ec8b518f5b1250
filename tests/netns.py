"""Run a command inside a private network namespace with only loopback.

WebRTC tests need it: aioice skips 127.0.0.1 and this machine may send traffic only to
loopback, so the namespace gets `lo` up plus 127.0.0.2 for ICE host candidates. Nothing
inside can reach any other host. Fails loudly (never skips) when namespaces are refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

SETUP = 'ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec "$@"'


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python tests/netns.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    if os.environ.get("TELEHEALTH_IN_NETNS") == "1":
        return subprocess.call(argv)
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if missing:
        print(
            f"cannot create a network namespace: {', '.join(missing)} not installed "
            "(Debian packages util-linux and iproute2)",
            file=sys.stderr,
        )
        return 3
    env = {**os.environ, "TELEHEALTH_IN_NETNS": "1"}
    # Services outside the namespace are unreachable inside it. The e2e tests start their
    # own inside it when E2E_BACKEND=postgres (PostgreSQL, redis-server), else they use the
    # embedded defaults; coturn is always theirs (tests/services.py).
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    command = ["unshare", "--net", "--", "sh", "-c", SETUP, "netns", *argv]
    completed = subprocess.run(command, env=env)
    if completed.returncode != 0 and completed.returncode not in (1, 5):
        print(
            f"network namespace run failed with exit code {completed.returncode} "
            "(is `unshare --net` permitted here? it needs root or user namespaces)",
            file=sys.stderr,
        )
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
