"""The hashes the Statsig SDKs use for bucketing, ID lists and client-init names.

See docs/statsig-spec.md §7. Every function works on the UTF-8 bytes of its input; none of them
imports Django so the evaluator can run anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import struct

_sha256 = hashlib.sha256
_read_u64 = struct.Struct(">Q").unpack_from

ROLLOUT_BUCKETS = 10_000
USER_BUCKETS = 1_000


def statsig_hash(text: str) -> int:
    """First 8 bytes of sha256(utf8(text)) read as an unsigned big-endian 64-bit integer."""
    value: int = _read_u64(_sha256(text.encode()).digest())[0]
    return value


def rollout_bucket(spec_salt: str, rule_salt: str, unit_id: str) -> int:
    """0..9999; a unit passes a rule's rollout when this is < passPercentage * 100."""
    return statsig_hash(f"{spec_salt}.{rule_salt}.{unit_id}") % ROLLOUT_BUCKETS


def user_bucket(salt: str, unit_id: str) -> int:
    """0..999; the value a `user_bucket` condition compares with its target."""
    return statsig_hash(f"{salt}.{unit_id}") % USER_BUCKETS


def id_list_hash(unit_id: str) -> str:
    """The 8-character entry an ID-list file holds for a unit ID."""
    return base64.b64encode(_sha256(unit_id.encode()).digest()).decode()[:8]


def djb2(text: str) -> str:
    """Statsig's djb2: unsigned 32-bit, as a decimal string (client-init names, SDK keys)."""
    h = 0
    for ch in text:
        h = ((h << 5) - h + ord(ch)) & 0xFFFFFFFF
    return str(h)
