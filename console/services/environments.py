"""A project's environments: create, rename, reorder, change tier, delete."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from console.audit import audit_record, snapshot
from console.exceptions import DomainError
from console.models import (
    Environment,
    EnvironmentTier,
    Project,
    Role,
    RulesetVersion,
)
from console.permissions import ensure_role
from console.publishing import bodies
from console.services.common import (
    ENV_NAME,
    ENVIRONMENT_FIELDS,
    clean_name,
    save_unique,
    validate_model,
)

# ---------------------------------------------------------------- environments


@transaction.atomic
def environment_create(*, actor, project: Project, name: str, tier: str) -> Environment:
    ensure_role(actor, project, Role.ADMIN)
    name = clean_name(name, what="Environment name", max_length=50)
    if not ENV_NAME.match(name):
        raise DomainError(
            "Environment names use letters, digits, spaces, '-' and '_'.",
            code="invalid_characters",
            field="name",
        )
    # Lock the project so concurrent creates get distinct positions.
    Project.objects.select_for_update().get(pk=project.pk)
    position = (project.environments.aggregate(m=Max("position"))["m"] or 0) + 1
    environment = Environment(project=project, name=name, tier=tier, position=position)
    validate_model(environment)
    save_unique(
        environment,
        message=f"This project already has an environment named '{name}'.",
        field="name",
    )
    audit_record(
        actor=actor,
        action="environment.created",
        target=environment,
        project=project,
        after=snapshot(environment, ENVIRONMENT_FIELDS),
    )
    if RulesetVersion.objects.filter(project=project).exists():
        # The new environment serves what is applied at once (a new version; the other
        # environments' content is unchanged). Before any publish it serves the empty spec.
        from console.publishing.services import ruleset_version_create

        ruleset_version_create(actor=actor, project=project, reason=f"Environment {name} created")
    return environment


def _is_last_production(environment: Environment) -> bool:
    return (
        environment.tier == EnvironmentTier.PRODUCTION
        and not Environment.objects.filter(
            project_id=environment.project_id, tier=EnvironmentTier.PRODUCTION
        )
        .exclude(pk=environment.pk)
        .exists()
    )


@transaction.atomic
def environment_update(*, actor, environment: Environment, name: str, tier: str) -> Environment:
    ensure_role(actor, environment.project, Role.ADMIN)
    environment = Environment.objects.select_for_update().get(pk=environment.pk)
    before = snapshot(environment, ENVIRONMENT_FIELDS)
    name = clean_name(name, what="Environment name", max_length=50)
    if not ENV_NAME.match(name):
        raise DomainError(
            "Environment names use letters, digits, spaces, '-' and '_'.",
            code="invalid_characters",
            field="name",
        )
    if tier != environment.tier and _is_last_production(environment):
        raise DomainError(
            "A project needs a production environment: this is the only one.",
            code="last_production",
            field="tier",
        )
    environment.name, environment.tier = name, tier
    validate_model(environment)
    save_unique(
        environment,
        update_fields=["name", "tier", "updated_at"],
        message=f"This project already has an environment named '{name}'.",
        field="name",
    )
    audit_record(
        actor=actor,
        action="environment.updated",
        target=environment,
        project=environment.project,
        before=before,
        after=snapshot(environment, ENVIRONMENT_FIELDS),
    )
    return environment


@transaction.atomic
def environment_reorder(
    *, actor, project: Project, environment_ids: list[int]
) -> list[Environment]:
    """Put the project's environments in the given order (every environment, once)."""
    ensure_role(actor, project, Role.ADMIN)
    environments = list(
        Environment.objects.select_for_update().filter(project=project).order_by("pk")
    )
    by_id = {env.pk: env for env in environments}
    if sorted(environment_ids) != sorted(by_id) or len(set(environment_ids)) != len(by_id):
        raise DomainError(
            "The new order must list each of the project's environments exactly once.",
            code="invalid_order",
        )
    before = {"order": [e.name for e in sorted(environments, key=lambda e: (e.position, e.pk))]}
    for position, env_id in enumerate(environment_ids):
        by_id[env_id].position = position
    Environment.objects.bulk_update(environments, ["position", "updated_at"])
    ordered = [by_id[i] for i in environment_ids]
    audit_record(
        actor=actor,
        action="environment.reordered",
        target=project,
        project=project,
        before=before,
        after={"order": [e.name for e in ordered]},
    )
    return ordered


@transaction.atomic
def environment_delete(*, actor, environment: Environment) -> None:
    """Delete a non-production environment and its keys (which stop working at once)."""
    ensure_role(actor, environment.project, Role.ADMIN)
    # The project's lock first, as a publish takes it: the chunks only this environment's
    # specs listed go below, and no publish of the project may list one meanwhile.
    Project.objects.select_for_update().get(pk=environment.project_id)
    environment = Environment.objects.select_for_update().get(pk=environment.pk)
    if environment.tier == EnvironmentTier.PRODUCTION:
        raise DomainError("Production environments cannot be deleted.", code="production_protected")
    project = environment.project
    keys = list(environment.keys.values_list("hint", flat=True))
    audit_record(
        actor=actor,
        action="environment.deleted",
        target=environment,
        project=project,
        before={**snapshot(environment, ENVIRONMENT_FIELDS), "keys": keys},
    )
    environment.keys.all().delete()
    environment.delete()
    bodies.forget_unlisted(project.pk)
