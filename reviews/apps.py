from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"

    def ready(self) -> None:
        from django.conf import settings

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
        # Scheduled change sets (and their stale ones told why) at their time.
        app.conf.beat_schedule["changeset-apply-scheduled"] = {
            "task": "reviews.tasks.changeset_apply_scheduled_task",
            "schedule": float(settings.GATEHOUSE_SCHEDULE_TICK_SECONDS),
        }
        app.conf.beat_schedule["changeset-apply-requeue"] = {
            "task": "reviews.tasks.changeset_apply_requeue_task",
            "schedule": 60.0,
        }
