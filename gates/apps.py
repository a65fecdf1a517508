from django.apps import AppConfig


class GatesConfig(AppConfig):
    name = "gates"
    verbose_name = "Feature gates, segments and dynamic configs"

    def ready(self) -> None:
        from django.conf import settings

        from console import demo
        from console.celery import app
        from console.navigation import register
        from console.publishing.idlists import register_id_list_provider
        from console.specs.registry import register_contributor
        from gates import demo as gates_demo
        from gates import reviews as gates_reviews
        from gates.publishing import segment_id_lists
        from gates.specs import contribute, contribute_fragments

        register_contributor(contribute, fragments=contribute_fragments)
        gates_reviews.register_kinds()
        register_id_list_provider(segment_id_lists)
        demo.register(gates_demo.load)
        # Dynamic configs are a tab of the Gates section (gates/partials/_gates_tabs.html).
        register("gates", "Gates", "gate-list")
        register("segments", "Segments", "segment-list")
        # Progressive rollouts: the steps of approved rollout schedules, at their time.
        app.conf.beat_schedule["gate-rollout-advance"] = {
            "task": "gates.tasks.gate_rollout_advance_task",
            "schedule": float(settings.GATEHOUSE_SCHEDULE_TICK_SECONDS),
        }
        _register_search()


def _register_search() -> None:
    from console import search
    from gates.models import DynamicConfig, FeatureGate, Segment

    def live(model):
        return lambda project: model.objects.filter(project=project, archived_at__isnull=True)

    search.register(search.Searchable("Feature gates", "gate-detail", live(FeatureGate), order=10))
    search.register(
        search.Searchable("Dynamic configs", "config-detail", live(DynamicConfig), order=20)
    )
    search.register(search.Searchable("Segments", "segment-detail", live(Segment), order=40))
