"""Every write to gates, segments, dynamic configs and unit types.

Each entity write takes a whole document (gates/types.py), checks the actor's role
(members and admins write, viewers read), takes the project's graph lock and the row
lock, validates (gates.documents), saves, bumps `revision` and records exactly one audit
event with the documents before and after.
"""

from gates.services.configs import (
    dynamic_config_archive,
    dynamic_config_create,
    dynamic_config_update,
)
from gates.services.gates import gate_archive, gate_create, gate_update
from gates.services.rollouts import (
    gate_rollout_pause,
    gate_rollout_resume,
    gate_rollout_stop,
    rollouts_advance_due,
)
from gates.services.segments import (
    MAX_SEGMENT_IDS,
    SegmentIdsChange,
    segment_archive,
    segment_create,
    segment_ids_add,
    segment_ids_preview,
    segment_ids_remove,
    segment_ids_replace,
    segment_ids_replace_from_csv,
    segment_update,
)
from gates.services.unit_types import unit_type_create

__all__ = [
    "MAX_SEGMENT_IDS",
    "SegmentIdsChange",
    "dynamic_config_archive",
    "dynamic_config_create",
    "dynamic_config_update",
    "gate_archive",
    "gate_create",
    "gate_rollout_pause",
    "gate_rollout_resume",
    "gate_rollout_stop",
    "gate_update",
    "rollouts_advance_due",
    "segment_archive",
    "segment_create",
    "segment_ids_add",
    "segment_ids_preview",
    "segment_ids_remove",
    "segment_ids_replace",
    "segment_ids_replace_from_csv",
    "segment_update",
    "unit_type_create",
]
