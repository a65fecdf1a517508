from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Gatehouse console"

    def ready(self) -> None:
        from console.navigation import register
        from console.selectors import access_requests_waiting
        from console.services.keys import register_webhook_events

        register_webhook_events()

        register(
            "settings",
            "Settings",
            "project-settings",
            badge=access_requests_waiting,
            badge_title="access requests wait for an admin's decision",
        )
