import pytest

from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import AuditEvent
from gates import services
from gates.documents import dynamic_config_to_document
from gates.models import DynamicConfig, UnitType
from tests.gates.factories import condition, config_document, gate_document, rule

SCHEMA = {
    "type": "object",
    "properties": {"theme": {"enum": ["light", "dark"]}, "limit": {"type": "integer"}},
    "required": ["theme"],
}


def _state(project):
    return (
        list(DynamicConfig.objects.filter(project=project).order_by("pk").values()),
        AuditEvent.objects.count(),
    )


def test_dynamic_config_create__schema_and_rules__saved_and_audited(project, project_member):
    # Given
    document = config_document(
        schema=SCHEMA,
        rules=[
            rule(
                "Dark for staff",
                [condition("email", "str_ends_with_any", ["@corp.example"])],
                returnValue={"theme": "dark", "limit": 5},
            )
        ],
    )
    # When
    config = services.dynamic_config_create(
        actor=project_member, project=project, document=document
    )
    # Then
    doc = dynamic_config_to_document(config)
    assert doc["defaultValue"] == {"theme": "light"}
    assert doc["schema"] == SCHEMA
    assert doc["rules"][0]["returnValue"] == {"theme": "dark", "limit": 5}
    assert config.rules[0]["salt"]
    event = AuditEvent.objects.get(action="dynamic_config.created")
    assert event.after == doc


@pytest.mark.parametrize(
    ("document", "code", "field"),
    [
        (
            config_document(schema=SCHEMA, defaultValue={"theme": "blue"}),
            "schema_mismatch",
            "defaultValue",
        ),
        (
            config_document(
                schema=SCHEMA,
                rules=[rule(returnValue={"theme": "dark"}), rule(returnValue={"limit": 1})],
            ),
            "schema_mismatch",
            "rules[1].returnValue",
        ),
        (config_document(schema={"type": "nonsense"}), "invalid_schema", "schema"),
        (
            config_document(rules=[rule(returnValue=[1, 2])]),
            "invalid_value",
            "rules[0].returnValue",
        ),
        (config_document(rules=[rule()]), "invalid_value", "rules[0].returnValue"),
        (config_document(defaultValue="light"), "invalid_value", "defaultValue"),
    ],
)
def test_dynamic_config_create__bad_input__refused_and_nothing_saved(
    project, project_admin, document, code, field
):
    # Given
    before = _state(project)
    # When
    with pytest.raises(DomainError) as caught:
        services.dynamic_config_create(actor=project_admin, project=project, document=document)
    # Then
    assert (caught.value.code, caught.value.field) == (code, field)
    assert _state(project) == before


def test_dynamic_config_update__value_change__one_event_and_salts_kept(project, project_admin):
    # Given
    config = services.dynamic_config_create(
        actor=project_admin,
        project=project,
        document=config_document(rules=[rule(returnValue={"theme": "dark"})]),
    )
    salt = config.rules[0]["salt"]
    document = dynamic_config_to_document(config)
    document["rules"][0]["returnValue"] = {"theme": "light", "limit": 3}
    # When
    updated = services.dynamic_config_update(actor=project_admin, config=config, document=document)
    # Then
    assert updated.rules[0]["salt"] == salt
    assert updated.revision == 2
    assert AuditEvent.objects.filter(action="dynamic_config.updated").count() == 1


@pytest.mark.parametrize("role_fixture", ["project_viewer", "outsider"])
def test_dynamic_config_update__viewer_or_outsider__refused(
    project, project_admin, role_fixture, request
):
    # Given
    config = services.dynamic_config_create(
        actor=project_admin, project=project, document=config_document()
    )
    before = _state(project)
    # When / Then
    with pytest.raises(NotAllowed):
        services.dynamic_config_update(
            actor=request.getfixturevalue(role_fixture),
            config=config,
            document=config_document(description="x"),
        )
    assert _state(project) == before


def test_dynamic_config_archive__config__archived_and_name_free(project, project_admin):
    # Given
    config = services.dynamic_config_create(
        actor=project_admin, project=project, document=config_document()
    )
    # When
    archived = services.dynamic_config_archive(actor=project_admin, config=config)
    # Then
    assert archived.is_archived
    event = AuditEvent.objects.get(action="dynamic_config.archived")
    assert (event.before, event.after) == ({"archived": False}, {"archived": True})
    services.dynamic_config_create(actor=project_admin, project=project, document=config_document())


def test_dynamic_config_create__name_of_live_config__conflict(project, project_admin):
    # Given
    services.dynamic_config_create(actor=project_admin, project=project, document=config_document())
    # When / Then
    with pytest.raises(Conflict) as caught:
        services.dynamic_config_create(
            actor=project_admin, project=project, document=config_document("CHECKOUT_settings")
        )
    assert caught.value.code == "duplicate"


# ---------------------------------------------------------------- unit types


def test_unit_type_create__admin__usable_as_id_type_and_in_unit_id_conditions(
    project, project_admin
):
    # When
    unit_type = services.unit_type_create(actor=project_admin, project=project, name="companyID")
    # Then
    gate = services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            idType="COMPANYID",
            rules=[rule(conditions=[condition("unit_id", "any", ["c1"], custom_id="companyid")])],
        ),
    )
    assert gate.id_type == "companyID"
    assert gate.rules[0]["conditions"][0]["customID"] == "companyID"
    assert AuditEvent.objects.get(action="unit_type.created").after["name"] == unit_type.name


@pytest.mark.parametrize(
    ("name", "error", "code"),
    [
        ("userid", Conflict, "duplicate"),
        ("1abc", DomainError, "invalid_name"),
        ("", DomainError, "invalid_name"),
    ],
)
def test_unit_type_create__bad_name__refused(project, project_admin, name, error, code):
    # When / Then
    with pytest.raises(error) as caught:
        services.unit_type_create(actor=project_admin, project=project, name=name)
    assert caught.value.code == code
    assert not UnitType.objects.exists()


def test_unit_type_create__member__refused(project, project_member):
    # When / Then
    with pytest.raises(NotAllowed):
        services.unit_type_create(actor=project_member, project=project, name="companyID")


def test_dynamic_config_create__integer_beyond_2_53__refused_and_nothing_saved(
    project, project_admin
):
    # Given a value JavaScript SDKs would round
    document = config_document("big", defaultValue={"id": 2**53 + 1})
    # When / Then
    with pytest.raises(DomainError) as exc:
        services.dynamic_config_create(actor=project_admin, project=project, document=document)
    assert exc.value.code == "unsafe_integer"
    assert not DynamicConfig.objects.filter(name="big").exists()
