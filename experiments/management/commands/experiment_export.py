from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from console.exceptions import DomainError
from console.models import Environment, Project
from experiments.models import Experiment, Holdout
from experiments.results import export


class Command(BaseCommand):
    help = (
        "Write an experiment's (or with --holdout a holdout's) assignments or results in one "
        "environment as CSV or Parquet (docs/export.md), streamed: millions of units are fine."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("name", help="the experiment's name (the holdout's with --holdout)")
        parser.add_argument("--holdout", action="store_true", help="NAME is a holdout")
        parser.add_argument("--environment", default="production")
        parser.add_argument("--table", choices=export.TABLES, default="assignments")
        parser.add_argument("--format", choices=export.FORMATS, default="csv")
        parser.add_argument("--output", help="the file to write (default: standard output)")

    def handle(self, *args, **options):
        project = Project.objects.active().filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"There is no active project with the slug {options['project']!r}.")
        environment = Environment.objects.filter(
            project=project, name=options["environment"]
        ).first()
        if environment is None:
            raise CommandError(
                f"{project.slug} has no environment named {options['environment']!r}."
            )
        name, model = options["name"], Holdout if options["holdout"] else Experiment
        found = model.objects.filter(project=project, name=name).first()
        if found is None:
            raise CommandError(f"{project.slug} has no {model._meta.verbose_name} named {name!r}.")
        if isinstance(found, Holdout):
            subject = export.Subject.of(environment, holdout=found)
        else:
            subject = export.Subject.of(environment, experiment=found)
        try:
            chunks = export.export_chunks(subject, options["table"], options["format"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if not options["output"]:
            self._to_stdout(chunks, options["format"])
            return
        output = Path(options["output"])
        size = 0
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("wb") as file:
                for chunk in chunks:
                    size += file.write(chunk)
        except OSError as exc:
            raise CommandError(f"Cannot write {exc.filename}: {exc.strerror}.") from exc
        self.stderr.write(
            f"{subject.name} ({environment.name}): {options['table']} "
            f"written to {output} ({size} bytes)"
        )

    def _to_stdout(self, chunks: Iterator[bytes], fmt: str) -> None:
        # Parquet is bytes: it needs a binary standard output (or a file).
        binary = getattr(self.stdout._out, "buffer", None)
        if binary is None and fmt == "parquet":
            raise CommandError("Parquet is binary: name the file with --output.")
        for chunk in chunks:
            if binary is not None:
                binary.write(chunk)
            else:
                self.stdout.write(chunk.decode(), ending="")
        if binary is not None:
            binary.flush()
