"""HTML forms of gates, segments and dynamic configs, one module per subject: the rules
editor, overrides, the entity forms, lists and IDs, testing a user."""

from gates.forms.editor import RulesEditor, condition_groups
from gates.forms.entities import DynamicConfigForm, GateForm, SegmentForm
from gates.forms.lists import (
    GateFilterForm,
    SearchForm,
    SegmentFilterForm,
    SegmentIdsForm,
    SegmentUploadForm,
    UnitTypeForm,
)
from gates.forms.overrides import attach_override_error, override_rows, overrides_document
from gates.forms.testing import TestUserForm

__all__ = [
    "DynamicConfigForm",
    "GateFilterForm",
    "GateForm",
    "RulesEditor",
    "SearchForm",
    "SegmentFilterForm",
    "SegmentForm",
    "SegmentIdsForm",
    "SegmentUploadForm",
    "TestUserForm",
    "UnitTypeForm",
    "attach_override_error",
    "condition_groups",
    "override_rows",
    "overrides_document",
]
