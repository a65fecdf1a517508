from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from console.exceptions import ApplicationError
from console.models import Project
from experiments.projectcode import MAX_IMPORT_BYTES, ImportPlan, parse_document, project_import
from experiments.projectcode.files import read_id_files
from reviews.models import ChangeSetSource


class Command(BaseCommand):
    help = (
        "Import a project document (project_export's) as one change set, through review "
        "like any other (docs/project-as-code.md). --dry-run shows the diff and keeps nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("file", help="the document (YAML or JSON; .json is read as JSON)")
        parser.add_argument(
            "--as", dest="actor", required=True, help="the email of the member who proposes it"
        )
        parser.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
        parser.add_argument(
            "--prune", action="store_true", help="archive the entities the file leaves out"
        )
        parser.add_argument("--title", default="", help="the change set's title")

    def handle(self, *args, **options):
        project = Project.objects.active().filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"There is no active project with the slug {options['project']!r}.")
        actor = get_user_model().objects.filter(email__iexact=options["actor"]).first()
        if actor is None:
            raise CommandError(f"There is no account with the email {options['actor']!r}.")
        path = Path(options["file"])
        try:
            if path.stat().st_size > MAX_IMPORT_BYTES:
                raise CommandError(f"{path} is larger than {MAX_IMPORT_BYTES // 2**20} MB.")
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        fmt = "json" if path.suffix.lower() == ".json" else "yaml"
        try:
            document = read_id_files(parse_document(data, fmt), path.parent)
            plan = project_import(
                actor=actor,
                project=project,
                document=document,
                dry_run=options["dry_run"],
                prune=options["prune"],
                source=ChangeSetSource.COMMAND,
                title=options["title"],
            )
        except ApplicationError as exc:
            where = f" (at {exc.field})" if exc.field else ""
            raise CommandError(f"Nothing was imported: {exc.message}{where}") from exc
        self._report(project, plan)

    def _report(self, project: Project, plan: ImportPlan) -> None:
        for entity in plan.changed:
            steps = ", ".join(entity.steps)
            self.stdout.write(f"{entity.action:9} {entity.section} {entity.name} ({steps})")
            if entity.diff:
                self.stdout.write(entity.diff.rstrip("\n"))
        for note in plan.notes:
            self.stdout.write(f"note: {note}")
        if plan.dry_run:
            waits = ", ".join(plan.needs_review)
            after = f"would wait for review in {waits}" if waits else "would apply at once"
            self.stdout.write(f"{project.slug}: dry run, {plan.summary()}; {after}.")
        elif plan.change_set is None:
            self.stdout.write(f"{project.slug}: nothing to change ({plan.summary()}).")
        else:
            cs = plan.change_set
            self.stdout.write(f"{project.slug}: change set #{cs.number} {cs.state}: {cs.title}")
