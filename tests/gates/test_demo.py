from io import StringIO

from django.core.management import call_command

from console.models import Project
from console.specs.builder import build_spec
from console.specs.evaluator import Evaluator


def test_demo_load__checkout_project__demo_gate_passes_employees(db):
    # Given
    call_command("demo_load", stdout=StringIO())
    project = Project.objects.get(slug="checkout")
    # When
    spec = build_spec(project, project.environments.get(name="production"), time_ms=1)
    evaluator = Evaluator(spec)
    # Then
    assert evaluator.check_gate({"userID": "u1", "email": "maya@gatehouse.local"}, "new_checkout")
    config = evaluator.get_config(
        {"userID": "u1", "email": "maya@gatehouse.local"}, "checkout_settings"
    )
    assert config.value["express_pay"] is True
    assert not evaluator.get_config({"userID": "u2"}, "checkout_settings").value["express_pay"]
