from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"

    def ready(self) -> None:
        from console.celery import app
        from console.navigation import register
        from reviews.notifications import register_webhook_events

        # The navigation has no per-user badges yet; the queue page shows the count.
        register("reviews", "Reviews", "changeset-list")
        register_webhook_events()
        # Safety net of heavy applies: change sets left applying by a lost task.
        app.conf.beat_schedule["changeset-apply-requeue"] = {
            "task": "reviews.tasks.changeset_apply_requeue_task",
            "schedule": 60.0,
        }
