import json

import pytest
from django.core.management import CommandError, call_command

from gates import services
from tests.gates.factories import gate_document, rule


def test_spec_build__v1_and_v2__prints_the_spec(project, project_admin, capsys):
    # Given
    services.gate_create(
        actor=project_admin, project=project, document=gate_document(rules=[rule()])
    )
    # When
    call_command("spec_build", "payments", "Production", "--time-ms", "1700000000000")
    v1 = json.loads(capsys.readouterr().out)
    call_command("spec_build", "payments", "production", "--format", "v2", "--time-ms", "5")
    v2 = json.loads(capsys.readouterr().out)
    # Then
    assert v1["time"] == 1_700_000_000_000
    assert [g["name"] for g in v1["feature_gates"]] == ["new_checkout"]
    assert v2["time"] == 5
    assert list(v2["feature_gates"]) == ["new_checkout"]
    assert v2["condition_map"]


def test_spec_build__no_time__uses_now(project, capsys):
    # When
    call_command("spec_build", "payments", "staging")
    # Then
    assert json.loads(capsys.readouterr().out)["time"] > 1_700_000_000_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "production"], "no active project with the slug 'nope'"),
        (["payments", "moon"], "has no environment named 'moon'"),
    ],
)
def test_spec_build__unknown_project_or_environment__error_sentence(project, args, message):
    # When / Then
    with pytest.raises(CommandError, match=message):
        call_command("spec_build", *args)
