"""Console pages of gates, segments and dynamic configs (URL names <entity>-<action>), one
module per subject: pages (the editing flow of the three kinds), lists, segment_ids."""

from gates.views.lists import config_list, gate_list, segment_list
from gates.views.pages import (
    config_archive,
    config_create,
    config_detail,
    config_test,
    gate_archive,
    gate_create,
    gate_detail,
    gate_test,
    segment_archive,
    segment_create,
    segment_detail,
    segment_test,
)
from gates.views.rollouts import gate_rollout_action
from gates.views.segment_ids import (
    segment_ids_add,
    segment_ids_remove,
    segment_ids_upload,
    unit_type_create,
)

__all__ = [
    "config_archive",
    "config_create",
    "config_detail",
    "config_list",
    "config_test",
    "gate_archive",
    "gate_create",
    "gate_detail",
    "gate_rollout_action",
    "gate_list",
    "gate_test",
    "segment_archive",
    "segment_create",
    "segment_detail",
    "segment_ids_add",
    "segment_ids_remove",
    "segment_ids_upload",
    "segment_list",
    "segment_test",
    "unit_type_create",
]
