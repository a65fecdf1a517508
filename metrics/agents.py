"""What a user agent says about the unit behind it, as uap-core (ua-parser) reads it:
whether it is a bot, and its browser and OS families ("Chrome", "Mobile Safari", "iOS",
"Windows"; never versions). Cached: SDKs send the same few agents over and over."""

from __future__ import annotations

import functools

from ua_parser import parse as parse_user_agent

# A longer agent is cut: uap-core's patterns read its start.
MAX_AGENT = 1000


@functools.lru_cache(maxsize=4096)
def _families(user_agent: str) -> tuple[str, str, bool]:
    parsed = parse_user_agent(user_agent[:MAX_AGENT])

    def family(part) -> str:
        name = getattr(part, "family", "") or ""
        return "" if name == "Other" else name[:100]

    device = parsed.device
    return (
        family(parsed.user_agent),
        family(parsed.os),
        (device is not None and device.family == "Spider"),
    )


def is_bot(user_agent: str) -> bool:
    """Crawlers and bots: device family Spider."""
    return bool(user_agent) and _families(user_agent)[2]


def browser_and_os(user_agent: str) -> tuple[str, str]:
    """The browser's and the OS's families, "" where the agent says none."""
    if not user_agent:
        return "", ""
    browser, os, _ = _families(user_agent)
    return browser, os
