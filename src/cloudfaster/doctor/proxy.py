"""The reverse proxy check: the hook where the proxy's checks go once CloudFaster drives one.

When the Caddy routing lands (DESIGN §10), ``proxy_checks`` asks its admin API whether it answers and holds the
routes CloudFaster asserts, and returns those checks; until then there is no proxy to check and it returns none.
"""

from __future__ import annotations

from cloudfaster.doctor.report import Check
from cloudfaster.settings import Settings


async def proxy_checks(settings: Settings) -> list[Check]:
    """The reverse proxy's checks (none yet: CloudFaster does not configure a proxy in this version)."""
    del settings  # read by the proxy checks once they exist
    return []
