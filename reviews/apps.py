from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"

    def ready(self) -> None:
        from console.celery import app
        from console.navigation import register
        from reviews.notifications import register_webhook_events
        from reviews.selectors import changesets_waiting_for

        register(
            "reviews",
            "Reviews",
            "changeset-list",
            badge=changesets_waiting_for,
            badge_title="change sets wait for your review",
        )
        register_webhook_events()
        # Safety net of heavy applies: change sets left applying by a lost task.
        app.conf.beat_schedule["changeset-apply-requeue"] = {
            "task": "reviews.tasks.changeset_apply_requeue_task",
            "schedule": 60.0,
        }
