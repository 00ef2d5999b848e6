"""Rate limits written in the notation of the ``limits`` library (``100/second;2000/minute``, ``5 per 2 hours``),
read without importing it: only a shared storage (Redis) needs the library, and it costs an idle server 1.6 MB."""

from __future__ import annotations

import re
from dataclasses import dataclass

# One rule: an amount, "/" or "per", an optional number of units, a unit ("second", "2 hours"); rules are separated
# by ",", ";" or "|". The strings limits.parse_many accepts (limits 5; tests/api/test_ratelimit.py holds us to it).
_RULE = re.compile(r"(\d+)\s*(?:/|per)\s*(\d*)\s*([a-z]+)", re.IGNORECASE)
_SEPARATOR = re.compile(r"[,;|]")
GRANULARITY_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 60 * 60,
    "day": 60 * 60 * 24,
    "month": 60 * 60 * 24 * 30,
    "year": 60 * 60 * 24 * 30 * 12,
}


@dataclass(frozen=True, slots=True)
class RateRule:
    """At most ``amount`` hits per window of ``multiples`` times ``granularity``."""

    amount: int
    multiples: int
    granularity: str

    @property
    def seconds(self) -> int:
        """The window's length."""
        return GRANULARITY_SECONDS[self.granularity] * self.multiples

    def __str__(self) -> str:
        return f"{self.amount} per {self.multiples} {self.granularity}"


def parse_rules(text: str) -> list[RateRule]:
    """The rules of ``text``; ValueError when it is not the limits notation."""
    rules = []
    for part in _SEPARATOR.split(text):
        match = _RULE.fullmatch(part.strip())
        if match is None:
            raise ValueError(f"couldn't parse rate limit string '{text}'")
        amount, multiples, unit = match.groups()
        granularity = unit.lower().removesuffix("s")
        if granularity not in GRANULARITY_SECONDS:
            raise ValueError(f"no granularity matched for {unit}")
        rules.append(RateRule(int(amount), int(multiples or 1) or 1, granularity))  # '/0 minutes' is 1, as in limits
    return rules
