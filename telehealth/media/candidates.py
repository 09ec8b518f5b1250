"""Which remote ICE candidates the clinic's own peers may send connectivity checks to.

A patient's SDP names the addresses our media worker will send STUN to. Without a filter
anyone could point it at the cloud metadata service (169.254.169.254) or at hosts on the
clinic's private network. Only public addresses and the networks a deployment lists pass;
link-local, unspecified and multicast addresses and a deny list never do.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def networks(setting: str) -> tuple[Network, ...]:
    """Networks from a comma-separated setting ("127.0.0.0/8, 10.1.0.0/16")."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False)
        for part in setting.split(",")
        if part.strip()
    )


@dataclass(frozen=True)
class CandidatePolicy:
    """Public addresses plus `allowed`; never link-local, unspecified, multicast or `denied`."""

    allowed: tuple[Network, ...] = ()
    denied: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, allowed: str, denied: str = "") -> CandidatePolicy:
        return cls(networks(allowed), networks(denied))

    def allows(self, address: str) -> bool:
        """True if a check may be sent to `address`; hostnames (mDNS) cannot be vetted."""
        try:
            ip: Address = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
        if ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            return False
        if any(ip in network for network in self.denied):
            return False
        return ip.is_global or any(ip in network for network in self.allowed)


def candidate_address(candidate: str) -> str | None:
    """The connection address of an ICE candidate line (with or without "a=candidate:")."""
    text = candidate.strip()
    for prefix in ("a=", "candidate:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    parts = text.split()
    # foundation component transport priority address port "typ" type ...
    return parts[4] if len(parts) >= 8 and parts[6] == "typ" else None


def candidate_type(candidate: str) -> str | None:
    """host, srflx, prflx or relay."""
    parts = candidate.split()
    return parts[parts.index("typ") + 1] if "typ" in parts[:-1] else None


def allows_candidate(candidate: str, policy: CandidatePolicy) -> bool:
    address = candidate_address(candidate)
    return address is not None and policy.allows(address)


def filter_sdp(sdp: str, keep: CandidatePolicy) -> tuple[str, int]:
    """The SDP without the candidates `keep` refuses, and how many were dropped."""
    kept, dropped = [], 0
    for line in sdp.splitlines(keepends=True):
        if line.startswith("a=candidate:") and not allows_candidate(line, keep):
            dropped += 1
            continue
        kept.append(line)
    return "".join(kept), dropped


def relay_only_sdp(sdp: str) -> str:
    """The SDP with relay candidates only: the peer learns no host or reflexive address."""
    return "".join(
        line
        for line in sdp.splitlines(keepends=True)
        if not line.startswith("a=candidate:") or candidate_type(line) == "relay"
    )
