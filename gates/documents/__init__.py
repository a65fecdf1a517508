"""The canonical JSON form of gates, segments and dynamic configs (the Statsig Console API v1
shape): rendering saved entities, and cleaning proposed documents. One module per subject."""

from gates.documents.cleaning import (
    Cleaned,
    clean_dynamic_config,
    clean_gate,
    clean_segment,
    validate_gate_document,
)
from gates.documents.common import (
    MAX_VALUE_BYTES,
    NAME_PATTERN,
    NAME_RULE,
    STATSIG_GATE_STATUS,
    STATSIG_GATE_TYPE,
    new_rule_id,
)
from gates.documents.rendering import (
    dynamic_config_to_document,
    environment_names,
    gate_to_document,
    segment_to_document,
)

__all__ = [
    "Cleaned",
    "MAX_VALUE_BYTES",
    "NAME_PATTERN",
    "NAME_RULE",
    "STATSIG_GATE_STATUS",
    "STATSIG_GATE_TYPE",
    "clean_dynamic_config",
    "clean_gate",
    "clean_segment",
    "dynamic_config_to_document",
    "environment_names",
    "gate_to_document",
    "new_rule_id",
    "segment_to_document",
    "validate_gate_document",
]
