from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "experiments"
    verbose_name = "Experiments, layers and holdouts"

    def ready(self) -> None:
        from console.specs.registry import register_contributor
        from experiments.specs import contribute

        register_contributor(contribute)
