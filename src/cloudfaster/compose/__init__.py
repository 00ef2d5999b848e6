"""An asyncio client for the `docker compose` v2 CLI: its protocol (``protocol``), the subprocess client
(``client``), its errors (``errors``) and an in-memory fake (``fake``).

This package knows nothing about CloudFaster: it takes plain values (command, Docker host, timeouts) and imports
nothing from ``cloudfaster`` outside itself.
"""
