from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from console.models import Project
from experiments.projectcode import dump_document, id_list_files, project_document


class Command(BaseCommand):
    help = (
        "Write a project's configuration as one stable document (docs/project-as-code.md): "
        "gates, segments, dynamic configs, layers, experiments, holdouts, metrics, tags and "
        "the review policy."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("--format", choices=("yaml", "json"), default="yaml")
        parser.add_argument("--output", help="the file to write (default: standard output)")
        parser.add_argument(
            "--id-lists",
            choices=("inline", "files"),
            default="inline",
            help="ID-list segments' IDs in the document, or in files beside it (needs --output)",
        )

    def handle(self, *args, **options):
        project = Project.objects.active().filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"There is no active project with the slug {options['project']!r}.")
        document = project_document(project)
        files: dict[str, str] = {}
        if options["id_lists"] == "files":
            if not options["output"]:
                raise CommandError("--id-lists files writes files beside --output: name it.")
            document, files = id_list_files(document)
        text = dump_document(document, options["format"])
        if not options["output"]:
            self.stdout.write(text, ending="")
            return
        output = Path(options["output"])
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
            for name, ids in files.items():
                path = output.parent / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(ids, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {exc.filename}: {exc.strerror}.") from exc
        self.stderr.write(f"{project.slug}: written to {output} ({len(files)} ID-list files)")
