"""No side door: the Django admin cannot change any entity kind that change sets hold."""

import pytest
from django.contrib import admin

from reviews import registry

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kind", [k.kind for k in registry.kinds()])
def test_admin__entity_kind__not_editable(rf, site_admin, kind):
    model = registry.get(kind).model
    request = rf.post("/")
    request.user = site_admin
    writable = admin.site.is_registered(model) and any(
        can(request)
        for can in (
            admin.site.get_model_admin(model).has_add_permission,
            admin.site.get_model_admin(model).has_change_permission,
            admin.site.get_model_admin(model).has_delete_permission,
        )
    )
    assert not writable, f"the admin site can change {model.__name__} around change sets"


def test_every_configuration_kind_is_registered():
    assert {k.kind for k in registry.kinds()} == {
        "gate",
        "segment",
        "dynamic_config",
        "experiment",
        "layer",
        "holdout",
    }
