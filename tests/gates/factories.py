"""Factories for gates rows and builders for the documents the services take."""

from __future__ import annotations

from typing import Any

import factory

from console.entities import new_salt
from gates.documents import new_rule_id
from gates.models import DynamicConfig, FeatureGate, Segment, SegmentKind
from tests.console.factories import ProjectFactory


def condition(
    type_: str,
    operator: str | None = None,
    target: Any = None,
    *,
    field: str | None = None,
    custom_id: str | None = None,
) -> dict[str, Any]:
    return {
        "type": type_,
        "operator": operator,
        "targetValue": target,
        "field": field,
        "customID": custom_id,
    }


def rule(
    name: str = "Everyone",
    conditions: list[dict] | None = None,
    pass_percentage: float = 100,
    environments: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "passPercentage": pass_percentage,
        "conditions": conditions if conditions is not None else [condition("public")],
        "environments": environments,
        **extra,
    }


def gate_document(name: str = "new_checkout", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "The new checkout flow",
        "idType": "userID",
        "isEnabled": True,
        "status": "in_progress",
        "isPermanent": False,
        "tags": [],
        "owner": None,
        "rules": [],
        "overrides": [],
        **fields,
    }


def segment_document(name: str = "employees", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "type": "rule_based",
        "idType": "userID",
        "tags": [],
        "owner": None,
        "rules": [],
        **fields,
    }


def config_document(name: str = "checkout_settings", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "idType": "userID",
        "isEnabled": True,
        "tags": [],
        "owner": None,
        "defaultValue": {"theme": "light"},
        "schema": None,
        "rules": [],
        **fields,
    }


def stored_rule(
    conditions: list[dict] | None = None, pass_percentage: float = 100, **extra: Any
) -> dict[str, Any]:
    """A rule as the JSON column holds it (salted, cleaned conditions)."""
    return {
        "id": new_rule_id(),
        "salt": new_salt(),
        "name": "Rule",
        "passPercentage": pass_percentage,
        "conditions": conditions or [condition("public")],
        "environmentIds": None,
        **extra,
    }


def _set_tags(obj, create, extracted, **kwargs):
    if create and extracted:
        obj.tags.set(extracted)


class FeatureGateFactory(factory.django.DjangoModelFactory):
    """A gate row written directly (bypassing the services): for reads and specs."""

    class Meta:
        model = FeatureGate
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"gate_{n:05d}")
    rules = factory.LazyFunction(lambda: [stored_rule()])

    tags = factory.PostGeneration(_set_tags)


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"segment_{n:05d}")
    kind = SegmentKind.RULE_BASED
    rules = factory.LazyFunction(lambda: [stored_rule()])
    tags = factory.PostGeneration(_set_tags)


class DynamicConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DynamicConfig
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"config_{n:05d}")
    default_value = factory.LazyFunction(lambda: {"limit": 1})
    rules = factory.LazyFunction(lambda: [stored_rule(returnValue={"limit": 2})])
    tags = factory.PostGeneration(_set_tags)
