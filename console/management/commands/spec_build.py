import time

from django.core.management.base import BaseCommand, CommandError

from console.models import Environment, Project
from console.specs.builder import SpecError, build_spec, spec_json, to_v2


class Command(BaseCommand):
    help = (
        "Print the download_config_specs JSON of a project's environment, as SDKs would "
        "receive it (v1 for the legacy Python and Node SDKs, v2 for statsig-python-core)."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("environment", help="the environment's name (any case)")
        parser.add_argument("--format", choices=["v1", "v2"], default="v1")
        parser.add_argument(
            "--time-ms",
            type=int,
            default=None,
            help="the spec's time (lcut) in epoch milliseconds (default: now)",
        )
        parser.add_argument("--indent", type=int, default=None, help="pretty-print")

    def handle(self, *args, **options):
        project = Project.objects.active().filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"There is no active project with the slug {options['project']!r}.")
        environment = Environment.objects.filter(
            project=project, name__iexact=options["environment"]
        ).first()
        if environment is None:
            names = ", ".join(project.environments.values_list("name", flat=True))
            raise CommandError(
                f"The project {project.slug} has no environment named "
                f"{options['environment']!r} (it has {names})."
            )
        time_ms = options["time_ms"] or int(time.time() * 1000)
        try:
            spec = build_spec(project, environment, time_ms=time_ms)
        except SpecError as exc:
            raise CommandError(f"The spec could not be built: {exc}") from exc
        if options["format"] == "v2":
            spec = to_v2(spec)
        self.stdout.write(spec_json(spec, indent=options["indent"]))
