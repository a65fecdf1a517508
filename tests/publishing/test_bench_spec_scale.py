"""bench/spec_scale.py on small projects, and bench/summary.py reading what it wrote: every
figure issue 17's table needs from it is there, and the summary tells met goals from missed
ones."""

from bench.spec_scale import bench_size, growth
from bench.summary import render
from reviews.models import ChangeSet


def test_spec_scale__two_sizes__every_figure_and_its_growth_for_the_summary(db):
    # Given two small projects measured the bench's way
    sizes = {str(n): bench_size(n, 1) for n in (20, 40)}
    # When
    steps = growth(sizes)
    # Then every timing is there, and the member's submit waits for review
    row = sizes["40"]
    assert (row["gates"], row["experiments"], row["environments"]) == (40, 4, 3)
    figures = ("full_build_s", "cold_build_s", "build_s", "publish_s", "submit_s")
    for key in (*figures, "new_process_build_s", "new_process_submit_s"):
        assert row[key] > 0, key
    # (a publish stores the chunks its change made, not its environments' whole bodies)
    assert 0 < row["publish_stored_chars"] < row["version_bodies_chars"] / 2
    # (a warm-up submit, one per run, and one per run in a new process)
    assert ChangeSet.objects.filter(project__slug="bench-scale-40", state="in_review").count() == 3
    assert steps["40/20"]["gates_ratio"] == 2
    assert steps["40/20"]["submit_s"] == round(row["submit_s"] / sizes["20"]["submit_s"], 2)
    # And the summary reads them for its build, publish and submit rows
    table = render({"spec_scale": {"sizes": sizes, "growth": steps}}, gates=40)
    labels = ("build v1+v2, 3 envs, 40 gates", "spec_publish after 1", "submit one change")
    for label in (*labels, "in a new process (shared tier)"):
        line = next(line for line in table.splitlines() if label in line)
        assert "missing" not in line, line
    assert "gates 40/20 (2x)" in table


def test_summary__goals_met_missed_and_missing():
    # Given a results file where the poll path misses its goal, the full download meets
    # its own, and the evaluator bench did not run
    results = {
        "publishing": {
            "serve": {
                "paths": {
                    "sinceTime=current": {"gunicorn_vs_static": 0.11},
                    "full spec": {"gunicorn_vs_static": 1.02},
                }
            }
        }
    }
    # When
    lines = render(results).splitlines()

    # Then
    def line(label: str) -> str:
        return next(text for text in lines if label in text)

    assert line("sinceTime=current").split()[-1] == "NO"
    assert "0.11x" in line("sinceTime=current")
    assert line("full spec download").split()[-1] == "yes"
    assert "missing" in line("check_gate, 20-rule gate")
