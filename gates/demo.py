"""Demo gates, segments and configs for `manage.py demo_load`: proposed as one change set by
the demo user and approved by a second demo admin, so they are applied and published the
way every configuration change is."""

from reviews.demo import demo_apply
from reviews.services import ChangeInput


def _condition(type_, operator=None, target=None, field=None):
    return {"type": type_, "operator": operator, "targetValue": target, "field": field}


def load(*, project, actor) -> None:
    if project.slug != "checkout":
        return
    segment = ChangeInput(
        "segment",
        "create",
        payload={
            "name": "employees",
            "description": "Everyone with a company email address.",
            "type": "rule_based",
            "rules": [
                {
                    "name": "Company email",
                    "passPercentage": 100,
                    "conditions": [_condition("email", "str_ends_with_any", ["@gatehouse.local"])],
                }
            ],
        },
    )
    gate = ChangeInput(
        "gate",
        "create",
        payload={
            "name": "new_checkout",
            "description": "The one-page checkout. Staff first, then a gradual rollout.",
            "tags": ["core", "web"],
            "owner": actor.email,
            "rules": [
                {
                    "name": "Employees",
                    "passPercentage": 100,
                    "conditions": [_condition("passes_segment", None, "employees")],
                },
                {
                    "name": "New app versions in the US and Canada",
                    "passPercentage": 50,
                    "conditions": [
                        _condition("country", "any", ["US", "CA"]),
                        _condition("app_version", "version_gte", "3.2.0"),
                    ],
                },
                {
                    "name": "Everyone else",
                    "passPercentage": 10,
                    "conditions": [_condition("public")],
                },
            ],
        },
    )
    config = ChangeInput(
        "dynamic_config",
        "create",
        payload={
            "name": "checkout_settings",
            "description": "Limits and copy of the checkout page.",
            "tags": ["core"],
            "defaultValue": {"max_items": 50, "express_pay": False, "banner": ""},
            "rules": [
                {
                    "name": "Employees try express pay",
                    "passPercentage": 100,
                    "conditions": [_condition("passes_segment", None, "employees")],
                    "returnValue": {
                        "max_items": 50,
                        "express_pay": True,
                        "banner": "Staff preview",
                    },
                }
            ],
        },
    )
    demo_apply(
        project=project,
        actor=actor,
        changes=[segment, gate, config],
        title="Demo: the new checkout gate, its employees segment and settings",
    )
