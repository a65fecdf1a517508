"""HTML pages of the console shell (projects, their settings, members, keys, tags, audit
log), one module per subject. Views are adapters: check access, bind a form, call one
service or selector, render; htmx requests get the partial of the part that changed."""

from console.views.api_docs import project_api_docs
from console.views.audit import project_audit
from console.views.environments import (
    environment_create,
    environment_delete,
    environment_move,
    environment_update,
    project_environments,
)
from console.views.keys import key_create, key_revoke, key_rotate, project_keys
from console.views.members import (
    access_request_approve,
    access_request_deny,
    member_invite,
    member_remove,
    member_update,
    project_members,
)
from console.views.projects import (
    home,
    project_create,
    project_home,
    project_join,
    project_list,
    project_request_access,
    project_settings,
)
from console.views.search import project_search
from console.views.tags import project_tags, tag_create, tag_delete, tag_update

__all__ = [
    "project_api_docs",
    "access_request_approve",
    "access_request_deny",
    "environment_create",
    "environment_delete",
    "environment_move",
    "environment_update",
    "home",
    "key_create",
    "key_revoke",
    "key_rotate",
    "member_invite",
    "member_remove",
    "member_update",
    "project_audit",
    "project_create",
    "project_environments",
    "project_home",
    "project_join",
    "project_keys",
    "project_list",
    "project_members",
    "project_request_access",
    "project_search",
    "project_settings",
    "project_tags",
    "tag_create",
    "tag_delete",
    "tag_update",
]
