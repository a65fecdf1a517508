"""Every write to the core models (projects, environments, tags, members, keys): permission
check, validation, audit, side effects on commit. One module per subject."""

from console.services.environments import (
    environment_create,
    environment_delete,
    environment_reorder,
    environment_update,
)
from console.services.keys import IssuedKey, key_authenticate, key_create, key_revoke, key_rotate
from console.services.members import (
    access_request_approve,
    access_request_create,
    access_request_deny,
    membership_invite,
    membership_remove,
    membership_update,
)
from console.services.projects import project_create, project_join, project_update
from console.services.tags import tag_create, tag_delete, tag_update

__all__ = [
    "IssuedKey",
    "access_request_approve",
    "access_request_create",
    "access_request_deny",
    "environment_create",
    "environment_delete",
    "environment_reorder",
    "environment_update",
    "key_authenticate",
    "key_create",
    "key_revoke",
    "key_rotate",
    "membership_invite",
    "membership_remove",
    "membership_update",
    "project_create",
    "project_join",
    "project_update",
    "tag_create",
    "tag_delete",
    "tag_update",
]
