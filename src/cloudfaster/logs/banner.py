"""A framed message on stderr, for what an operator must not miss (a generated key, a simulator, a local proxy)."""

from __future__ import annotations


def banner(message: str, title: str, style: str = "yellow") -> None:
    """Print ``message`` in a titled panel on stderr (rich markup allowed)."""
    # rich loads here, not at start: a server that logs plain or JSON never needs it (1.3 MB of its memory).
    from rich.console import Console
    from rich.panel import Panel

    Console(stderr=True).print(Panel(message, title=title, border_style=style))
