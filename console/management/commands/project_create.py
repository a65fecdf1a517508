import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from console import services
from console.exceptions import ApplicationError
from console.models import KeyKind, Role


class Command(BaseCommand):
    help = (
        "Create a project with its default environments, a server and a client key per "
        "environment and one admin console API key, and print them (shown only this once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the project's name")
        parser.add_argument("--owner", required=True, help="email of the project's first admin")
        parser.add_argument("--slug", default="", help="URL slug (default: made from the name)")
        parser.add_argument("--description", default="")
        parser.add_argument("--open", action="store_true", help="any employee may join")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **options):
        owner = get_user_model().objects.filter(email__iexact=options["owner"].strip()).first()
        if owner is None:
            raise CommandError(
                f"No user has the email {options['owner']!r}: create the account first "
                "(sign up, or manage.py createsuperuser)."
            )
        try:
            with transaction.atomic():
                project = services.project_create(
                    actor=None,
                    owner=owner,
                    name=options["name"],
                    slug=options["slug"],
                    description=options["description"],
                    access_mode="open" if options["open"] else "closed",
                )
                environments = []
                for environment in project.environments.order_by("position"):
                    server, client = (
                        services.key_create(
                            actor=None,
                            owner=owner,
                            project=project,
                            kind=kind,
                            environment=environment,
                            name=f"{environment.name} {kind}",
                        )
                        for kind in (KeyKind.SERVER, KeyKind.CLIENT)
                    )
                    environments.append(
                        {
                            "name": environment.name,
                            "tier": environment.tier,
                            "serverKey": server.secret,
                            "clientKey": client.secret,
                        }
                    )
                console_key = services.key_create(
                    actor=None,
                    owner=owner,
                    project=project,
                    kind=KeyKind.CONSOLE,
                    role=Role.ADMIN,
                    name="created by project_create",
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

        result = {
            "project": project.slug,
            "environments": environments,
            "consoleKey": console_key.secret,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(f"Created project {project.name} ({project.slug}), owner {owner.email}.")
        for env in environments:
            self.stdout.write(f"  {env['name']:<14} server {env['serverKey']}")
            self.stdout.write(f"  {'':<14} client {env['clientKey']}")
        self.stdout.write(f"  console API key (admin): {console_key.secret}")
        self.stdout.write("These keys are not stored and will not be shown again.")
