"""Helpers for the `text` of webhook_emit, which Slack renders as mrkdwn."""

from __future__ import annotations


def escape(text: str) -> str:
    """User-supplied text for mrkdwn: Slack wants &, < and > escaped, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A mrkdwn link; `url` must be absolute (settings.GATEHOUSE_BASE_URL + a path)."""
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{escape(label)}>"
