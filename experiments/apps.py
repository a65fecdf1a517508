from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "experiments"
    verbose_name = "Experiments, layers and holdouts"

    def ready(self) -> None:
        from console import demo, search
        from console.navigation import register
        from console.specs.registry import register_contributor
        from experiments import demo as experiments_demo
        from experiments import reviews as experiments_reviews
        from experiments import selectors
        from experiments.models import Experiment, Holdout
        from experiments.specs import contribute, contribute_fragments
        from experiments.views import gate_scorecard
        from gates import hooks
        from metrics import panels as metrics_panels

        _register_beat()
        register_contributor(contribute, fragments=contribute_fragments)
        experiments_reviews.register_kinds()
        demo.register(experiments_demo.load)
        # Layers and holdouts are tabs of the Experiments section
        # (experiments/partials/_experiments_tabs.html).
        register("experiments", "Experiments", "experiment-list")
        search.register(
            search.Searchable(
                "Experiments",
                "experiment-detail",
                lambda project: Experiment.objects.filter(
                    project=project, archived_at__isnull=True
                ),
                order=30,
            )
        )
        # Experiments share the dynamic_configs namespace, holdouts the feature_gates one.
        hooks.register_name_claim(
            "dynamic_configs", "experiment", lambda p, n: selectors.name_taken(Experiment, p, n)
        )
        hooks.register_name_claim(
            "feature_gates", "holdout", lambda p, n: selectors.name_taken(Holdout, p, n)
        )
        hooks.register_usage(selectors.experiments_using)
        # Gates and metrics are side floors (neither imports the other): from the floor above
        # both, a gate's page gets metrics' Exposures panel and its list "stale by usage".
        hooks.register_gate_panel(metrics_panels.gate_panel)
        # And its scorecard: passing against failing units on the Core metrics.
        hooks.register_gate_panel(gate_scorecard.gate_scorecard_panel)
        hooks.register_gate_checks(metrics_panels.gates_checked)


def _register_beat() -> None:
    from celery.schedules import crontab

    from console.celery import app

    # Results of running experiments, daily (experiments.results.services.results_schedule),
    # and the sweep that resends lost refreshes and fails interrupted ones.
    app.conf.beat_schedule["experiment-results-daily"] = {
        "task": "experiments.tasks.results_schedule_task",
        "schedule": crontab(minute=0, hour=5),
    }
    app.conf.beat_schedule["experiment-results-requeue"] = {
        "task": "experiments.tasks.results_requeue_task",
        "schedule": 300.0,
    }
