"""Hostile JSON typed into the console's JSON text boxes (a config rule's value): a form
error, fast, and nothing saved; never a 5xx."""

from __future__ import annotations

import pytest
from django.urls import reverse

from gates.models import DynamicConfig
from tests.gates.factories import rule
from tests.gates.test_views import EMAIL_RULE, config_data

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "nest"),
        ('{"a": "x\\u0000y"}', "NUL"),
        ('{"a": "\\ud800"}', "surrogate"),
        ('{"a": NaN}', "NaN"),
    ],
)
def test_config_rule_value__hostile_json__form_error_nothing_saved(
    client, project, project_member, value, message
):
    client.force_login(project_member)
    bad = {**rule("Staff", EMAIL_RULE["conditions"]), "returnValue": value}
    response = client.post(reverse("config-create", args=[project.slug]), config_data("c1", [bad]))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DynamicConfig.objects.filter(name="c1").exists()
