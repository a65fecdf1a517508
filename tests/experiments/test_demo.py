from io import StringIO

from django.core.management import call_command

from console.models import Project
from console.specs.builder import build_spec
from console.specs.evaluator import Evaluator
from experiments.models import Experiment


def test_demo_load__checkout__running_experiment_in_its_layer(db):
    # Given
    call_command("demo_load", stdout=StringIO())
    project = Project.objects.get(slug="checkout")
    # When
    spec = build_spec(project, project.environments.get(name="production"), time_ms=1)
    result = Evaluator(spec).get_layer({"userID": "user-7"}, "checkout_page")
    # Then
    assert Experiment.objects.get(name="checkout_button_color").status == "running"
    assert result.value["button_color"] in ("grey", "blue")
    assert set(result.value) == {"button_color", "show_trust_badges"}
