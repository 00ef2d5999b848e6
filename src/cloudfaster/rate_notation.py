"""Rate limits written in the notation of the ``limits`` library (``100/second;2000/minute``, ``5 per 2 hours``),
read without importing it: only a shared storage (Redis) needs the library, and it costs an idle server 1.6 MB."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The grammar of limits.util.parse_many (limits 5), which reads the same strings for a shared storage.
_SEPARATORS = re.compile(r"[,;|]{1}")
_SINGLE = r"\s*([0-9]+)\s*(/|\s*per\s*)\s*([0-9]+)?\s*([a-z]+)\s*"
_ONE = re.compile(_SINGLE, re.IGNORECASE)
_MANY = re.compile(rf"^{_SINGLE}(:?[,;|]{{1}}{_SINGLE})*$", re.IGNORECASE)
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
    if not _MANY.match(text):
        raise ValueError(f"couldn't parse rate limit string '{text}'")
    rules = []
    for part in _SEPARATORS.split(text):
        match = _ONE.match(part)
        if match is None:
            continue
        amount, _, multiples, unit = match.groups()
        granularity = unit.lower().removesuffix("s")
        if granularity not in GRANULARITY_SECONDS:
            raise ValueError(f"no granularity matched for {unit}")
        rules.append(RateRule(int(amount), int(multiples or 1) or 1, granularity))  # '/0 minutes' is 1, as in limits
    return rules
