"""A per-socket token bucket: small bursts pass, floods are dropped and then cut off."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    burst: float  # most tokens held at once
    tokens: float = field(default=-1.0)
    updated: float = 0.0
    dropped: int = 0

    def allow(self, now: float) -> bool:
        """Spend one token if there is one; count a drop otherwise."""
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.dropped += 1
        return False

    @property
    def flooding(self) -> bool:
        """A socket that keeps sending after being throttled for a full burst is cut off."""
        return self.dropped > self.burst

    def forgive(self) -> None:
        """After a cut-off, count drops afresh (the budget itself still has to refill)."""
        self.dropped = 0
