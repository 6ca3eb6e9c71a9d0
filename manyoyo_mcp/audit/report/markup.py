"""Escaping for the page: every text from the log passes here before it reaches the HTML."""

from __future__ import annotations

import html


def esc(text: str) -> str:
    """Text for an element's content (quotes need no escaping there)."""
    return html.escape(text, quote=False)


def attr(text: str) -> str:
    """Text for a double-quoted attribute value."""
    return html.escape(text, quote=True)
