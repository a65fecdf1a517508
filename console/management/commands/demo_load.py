import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from console import demo, services
from console.models import Membership, Project, Role
from console.publishing.services import spec_publish

DEMO_EMAIL = "demo@gatehouse.local"


class Command(BaseCommand):
    help = "Load the demo projects and accounts (idempotent: running it again changes nothing)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        password = os.environ.get("DEMO_PASSWORD", "demo-password")
        demo_user = User.objects.filter(email=DEMO_EMAIL).first()
        if demo_user is None:
            demo_user = User.objects.create_superuser(
                username="demo", email=DEMO_EMAIL, password=password, first_name="Demo"
            )
            self.stdout.write(f"Created the site admin {DEMO_EMAIL}.")

        teammates = {}
        for username, name in [("maya", "Maya Product"), ("viktor", "Viktor Viewer")]:
            email = f"{username}@gatehouse.local"
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(
                    username=username, email=email, password=password, first_name=name
                )
            teammates[username] = user

        created = []
        for slug, name, mode, description in [
            ("checkout", "Checkout", "closed", "Cart, payment and order confirmation."),
            ("growth-sandbox", "Growth sandbox", "open", "A playground anyone can join."),
        ]:
            if Project.objects.filter(slug=slug).exists():
                continue
            project = services.project_create(
                actor=demo_user, name=name, slug=slug, description=description, access_mode=mode
            )
            for environment in project.environments.all():
                # A server key for backends, a client key for browsers and apps
                # (@statsig/js-client): the SDK snippets of the entity pages use both.
                for kind in ("server", "client"):
                    services.key_create(
                        actor=demo_user,
                        project=project,
                        kind=kind,
                        environment=environment,
                        name=f"{environment.name} {kind}",
                    )
            if slug == "checkout":
                for user, role in [
                    (teammates["maya"], Role.MEMBER),
                    (teammates["viktor"], Role.VIEWER),
                ]:
                    if not Membership.objects.filter(project=project, user=user).exists():
                        services.membership_invite(
                            actor=demo_user, project=project, email=user.email, role=role
                        )
            demo.load(project=project, actor=demo_user)
            # The demo's applied change sets published; a project without any gets its
            # first ruleset version here, so SDKs pointed at the demo have specs to read.
            spec_publish(actor=demo_user, project=project, reason="Demo data")
            created.append(name)
        if created:
            self.stdout.write(f"Created the demo projects: {', '.join(created)}.")
        else:
            self.stdout.write("The demo data is already loaded.")
