"""A whole project as code (docs/project-as-code.md): one stable document of its gates,
segments, dynamic configs, layers, experiments, holdouts, metrics, tags and review policy
(`export`), read back from YAML or JSON with hostile input bounded (`files`), and imported
as one change set through reviews (`importing`).

It lives in the top floor because it spans every kind: gates, experiments, metrics and
reviews. The entity documents are the canonical ones (`<entity>_to_document`, what reviews
show), through the reviews registry."""

from experiments.projectcode.exporting import FORMAT_VERSION, project_document
from experiments.projectcode.files import (
    MAX_IMPORT_BYTES,
    dump_document,
    id_list_files,
    parse_document,
)
from experiments.projectcode.importing import ImportPlan, project_import

__all__ = [
    "FORMAT_VERSION",
    "MAX_IMPORT_BYTES",
    "ImportPlan",
    "dump_document",
    "id_list_files",
    "parse_document",
    "project_document",
    "project_import",
]
