import json

from django.core.management import call_command

from experiments.models import Experiment


def test_experiments_bench_spec__small_run__figures_merged_and_nothing_kept(db, tmp_path, capsys):
    # Given
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"evaluator": {"kept": True}}))
    # When
    call_command(
        "experiments_bench_spec",
        "--experiments",
        "30",
        "--layers",
        "3",
        "--runs",
        "1",
        "--out",
        str(out),
    )
    # Then
    results = json.loads(out.read_text())
    figures = results["experiments_spec_build"]
    assert results["evaluator"] == {"kept": True}
    assert figures["experiments"] == 30
    assert figures["specs"] == {"dynamic_configs": 30, "layer_configs": 3, "feature_gates": 2}
    assert figures["layer_buckets"] == 3 * 1000
    assert figures["queries_per_build"] <= 11
    assert "queries per build" in capsys.readouterr().out
    assert not Experiment.objects.exists()
