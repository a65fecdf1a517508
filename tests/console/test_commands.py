import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from console import services
from console.models import (
    ApiKey,
    AuditEvent,
    ConfigSpec,
    Membership,
    Project,
    Role,
    User,
    hash_key,
)
from tests.console.factories import UserFactory


def test_project_create_command__json__prints_every_key_once_and_stores_hashes(db):
    # Given
    owner = UserFactory(email="owner@corp.example")
    out = StringIO()
    # When
    call_command(
        "project_create", "Mobile App", "--owner", "OWNER@corp.example", "--json", stdout=out
    )
    # Then
    result = json.loads(out.getvalue())
    assert result["project"] == "mobile-app"
    assert [e["name"] for e in result["environments"]] == ["development", "staging", "production"]
    project = Project.objects.get(slug="mobile-app")
    assert Membership.objects.get(project=project, user=owner).role == Role.ADMIN
    secrets = [result["consoleKey"]] + [
        e[k] for e in result["environments"] for k in ("serverKey", "clientKey")
    ]
    assert {hash_key(s) for s in secrets} == set(ApiKey.objects.values_list("key_hash", flat=True))
    console_key = services.key_authenticate(result["consoleKey"], kinds=("console",))
    assert (console_key.role, console_key.created_by) == (Role.ADMIN, owner)
    for env in result["environments"]:
        server = services.key_authenticate(env["serverKey"], kinds=("server",))
        assert server.environment.name == env["name"]
        assert env["clientKey"].startswith("client-")
    assert AuditEvent.objects.filter(project=project, action="key.created").count() == 7


def test_project_create_command__unknown_owner__error_sentence_and_nothing_saved(db):
    with pytest.raises(CommandError, match="No user has the email"):
        call_command("project_create", "Mobile App", "--owner", "ghost@corp.example")
    assert not Project.objects.exists()


def test_project_create_command__duplicate_slug__error_and_no_keys(db):
    UserFactory(email="owner@corp.example")
    call_command("project_create", "Mobile", "--owner", "owner@corp.example", stdout=StringIO())
    keys = ApiKey.objects.count()
    with pytest.raises(CommandError, match="already taken"):
        call_command("project_create", "Mobile", "--owner", "owner@corp.example")
    assert ApiKey.objects.count() == keys


def test_demo_load__twice__same_data(db):
    call_command("demo_load", stdout=StringIO())
    counts = (User.objects.count(), Project.objects.count(), ApiKey.objects.count())
    out = StringIO()
    call_command("demo_load", stdout=out)
    assert "already loaded" in out.getvalue()
    assert (User.objects.count(), Project.objects.count(), ApiKey.objects.count()) == counts
    assert User.objects.get(email="demo@gatehouse.local").check_password("demo-password")


def test_demo_load__fresh__every_environment_has_a_published_spec(db):
    # When
    call_command("demo_load", stdout=StringIO())
    # Then
    project = Project.objects.get(slug="checkout")
    published = ConfigSpec.objects.filter(environment__project=project)
    assert sorted(set(published.values_list("environment__name", flat=True))) == [
        "development",
        "production",
        "staging",
    ]
