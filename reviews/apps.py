from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"

    def ready(self) -> None:
        from console.navigation import register
        from reviews.notifications import register_webhook_events

        # The navigation has no per-user badges yet; the queue page shows the count.
        register("reviews", "Reviews", "changeset-list")
        register_webhook_events()
