from django.core.management.base import BaseCommand, CommandError

from console.models import Project
from console.publishing.services import spec_publish
from console.specs.builder import SpecError


class Command(BaseCommand):
    help = (
        "Record a new ruleset version of a project (one config spec per environment) and "
        "queue its push to Redis. Does nothing when no environment's content changed, unless "
        "--force."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("--reason", default="", help="why (kept with the version)")
        parser.add_argument("--force", action="store_true", help="publish even if nothing changed")

    def handle(self, *args, **options):
        project = Project.objects.active().filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"There is no active project with the slug {options['project']!r}.")
        try:
            version = spec_publish(
                actor=None,
                project=project,
                reason=options["reason"] or "Published by manage.py spec_publish",
                force=options["force"],
            )
        except SpecError as exc:
            raise CommandError(f"The spec could not be built: {exc}") from exc
        if version.was_created:
            specs = version.config_specs.select_related("environment").order_by("environment__pk")
            self.stdout.write(f"{project.slug}: version {version.number}")
            for spec in specs:
                self.stdout.write(f"  {spec.environment.name}: time {spec.time_ms} ({spec.state})")
        else:
            self.stdout.write(f"{project.slug}: nothing changed since version {version.number}")
