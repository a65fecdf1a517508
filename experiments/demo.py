"""Demo layer, experiments and holdout for `manage.py demo_load`, made through the services."""

from experiments import services


def _parameter(name, type_, default):
    return {"name": name, "type": type_, "defaultValue": default, "description": ""}


def _group(name, size, values):
    return {"name": name, "description": "", "size": size, "parameterValues": values}


def load(*, project, actor) -> None:
    if project.slug != "checkout":
        return
    services.layer_create(
        actor=actor,
        project=project,
        document={
            "name": "checkout_page",
            "description": "Mutually exclusive tests of the checkout page.",
            "idType": "userID",
            "parameters": [
                _parameter("button_color", "string", "grey"),
                _parameter("show_trust_badges", "boolean", False),
            ],
        },
    )
    experiment = services.experiment_create(
        actor=actor,
        project=project,
        document={
            "name": "checkout_button_color",
            "hypothesis": "A blue pay button makes more people finish the checkout.",
            "description": "Grey (today) against blue.",
            "idType": "userID",
            "allocation": 40,
            "layerID": "checkout_page",
            "parameters": [
                _parameter("button_color", "string", "grey"),
                _parameter("show_trust_badges", "boolean", False),
            ],
            "groups": [
                _group("Control", 50, {"button_color": "grey", "show_trust_badges": False}),
                _group("Blue", 50, {"button_color": "blue", "show_trust_badges": False}),
            ],
            "tags": ["web"],
        },
    )
    services.experiment_start(actor=actor, experiment=experiment)
    services.experiment_create(
        actor=actor,
        project=project,
        document={
            "name": "trust_badges",
            "hypothesis": "Payment trust badges reduce drop-off at the card form.",
            "idType": "userID",
            "allocation": 30,
            "layerID": "checkout_page",
            "parameters": [
                _parameter("button_color", "string", "grey"),
                _parameter("show_trust_badges", "boolean", False),
            ],
            "groups": [
                _group("Control", 50, {"button_color": "grey", "show_trust_badges": False}),
                _group("Badges", 50, {"button_color": "grey", "show_trust_badges": True}),
            ],
        },
    )
