import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import AuditEvent
from console.specs.hashing import id_list_hash
from gates import idlists, services
from gates.documents import segment_to_document
from gates.idlists import parse_pasted_ids
from gates.models import Segment, SegmentID, SegmentKind
from gates.selectors import segment_id_list_size, segment_id_list_text
from tests.gates.factories import condition, config_document, gate_document, rule, segment_document


def _state(project):
    return (
        list(Segment.objects.filter(project=project).order_by("pk").values()),
        sorted(SegmentID.objects.values_list("segment_id", "unit_id")),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def id_segment(project, project_admin):
    return services.segment_create(
        actor=project_admin,
        project=project,
        document=segment_document("beta_testers", type="id_list"),
    )


# ---------------------------------------------------------------- documents


def test_segment_create__rule_based__saved_and_audited(project, project_member):
    # When
    segment = services.segment_create(
        actor=project_member,
        project=project,
        document=segment_document(
            rules=[rule("Staff", [condition("email", "str_ends_with_any", ["@corp.example"])])],
            tags=["core"],
        ),
    )
    # Then
    assert segment.kind == SegmentKind.RULE_BASED
    assert segment.owner == project_member
    event = AuditEvent.objects.get(action="segment.created")
    assert event.after == segment_to_document(segment)
    assert event.after["rules"][0]["name"] == "Staff"


def test_segment_create__id_list__document_shows_count(id_segment):
    # When
    document = segment_to_document(id_segment)
    # Then
    assert document["type"] == "id_list"
    assert document["count"] == 0
    assert document["rules"] == []


@pytest.mark.parametrize("role_fixture", ["project_viewer", "outsider"])
def test_segment_create__viewer_or_outsider__refused(project, role_fixture, request):
    # Given
    before = _state(project)
    # When / Then
    with pytest.raises(NotAllowed):
        services.segment_create(
            actor=request.getfixturevalue(role_fixture),
            project=project,
            document=segment_document(),
        )
    assert _state(project) == before


@pytest.mark.parametrize(
    ("document", "code", "field"),
    [
        (segment_document(type="people"), "invalid_type", "type"),
        (segment_document(type="id_list", rules=[rule()]), "invalid", "rules"),
        (
            segment_document(rules=[rule(conditions=[condition("passes_segment", None, "x")])]),
            "unknown_segment",
            "rules[0].conditions[0].targetValue",
        ),
        (
            segment_document(rules=[rule(conditions=[condition("locale", "gte", 3)])]),
            "operator_not_allowed",
            "rules[0].conditions[0].operator",
        ),
    ],
)
def test_segment_create__bad_input__refused_and_nothing_saved(
    project, project_admin, document, code, field
):
    # Given
    before = _state(project)
    # When
    with pytest.raises(DomainError) as caught:
        services.segment_create(actor=project_admin, project=project, document=document)
    # Then
    assert (caught.value.code, caught.value.field) == (code, field)
    assert _state(project) == before


def test_segment_update__type_change__refused(id_segment, project_admin):
    # When / Then
    with pytest.raises(DomainError) as caught:
        services.segment_update(
            actor=project_admin,
            segment=id_segment,
            document=segment_document("beta_testers", type="rule_based"),
        )
    assert caught.value.code == "type_immutable"


def test_segment_update__description__revision_bumped_and_one_audit_event(
    id_segment, project_member
):
    # Given
    document = {**segment_to_document(id_segment), "description": "Early adopters"}
    # When
    segment = services.segment_update(actor=project_member, segment=id_segment, document=document)
    # Then
    assert segment.revision == 2
    event = AuditEvent.objects.get(action="segment.updated")
    assert (event.before, event.after) == (
        {"description": ""},
        {"description": "Early adopters"},
    )


def test_segment_update__segment_using_itself_through_another__cycle_refused(
    project, project_admin
):
    # Given
    a = services.segment_create(
        actor=project_admin, project=project, document=segment_document("a")
    )
    services.segment_create(
        actor=project_admin,
        project=project,
        document=segment_document(
            "b", rules=[rule(conditions=[condition("passes_segment", None, "a")])]
        ),
    )
    before = _state(project)
    # When
    with pytest.raises(DomainError) as caught:
        services.segment_update(
            actor=project_admin,
            segment=a,
            document=segment_document(
                "a", rules=[rule(conditions=[condition("fails_segment", None, "b")])]
            ),
        )
    # Then
    assert caught.value.code == "cycle"
    assert _state(project) == before


# ---------------------------------------------------------------- in use


@pytest.mark.parametrize(
    "user_document",
    [
        lambda: (
            "gate",
            gate_document(
                "g", rules=[rule(conditions=[condition("passes_segment", None, "beta_testers")])]
            ),
        ),
        lambda: (
            "segment",
            segment_document(
                "s", rules=[rule(conditions=[condition("fails_segment", None, "beta_testers")])]
            ),
        ),
        lambda: (
            "config",
            config_document(
                rules=[
                    rule(
                        conditions=[condition("passes_segment", None, "beta_testers")],
                        returnValue={"theme": "dark"},
                    )
                ]
            ),
        ),
    ],
    ids=["gate", "segment", "config"],
)
def test_segment_archive__used_by_a_condition__conflict_until_the_user_is_archived(
    project, project_admin, id_segment, user_document
):
    # Given
    kind, document = user_document()
    create, archive, key = {
        "gate": (services.gate_create, services.gate_archive, "gate"),
        "segment": (services.segment_create, services.segment_archive, "segment"),
        "config": (services.dynamic_config_create, services.dynamic_config_archive, "config"),
    }[kind]
    user = create(actor=project_admin, project=project, document=document)
    # When
    with pytest.raises(Conflict) as caught:
        services.segment_archive(actor=project_admin, segment=id_segment)
    # Then
    assert caught.value.code == "in_use"
    assert not Segment.objects.get(pk=id_segment.pk).is_archived
    archive(actor=project_admin, **{key: user})
    archived = services.segment_archive(actor=project_admin, segment=id_segment)
    assert archived.is_archived
    assert Segment.objects.filter(pk=id_segment.pk).exists()  # archived, never deleted


# ---------------------------------------------------------------- IDs


def test_segment_ids_add__new_and_duplicate_ids__only_new_counted_and_audited(
    id_segment, project_member
):
    # Given
    services.segment_ids_add(actor=project_member, segment=id_segment, ids=["u1", "u2"])
    # When
    change = services.segment_ids_add(
        actor=project_member, segment=id_segment, ids=["u2", " u3 ", "u3", "back\\slash"]
    )
    # Then
    assert (change.added, change.removed, change.segment.id_count) == (2, 0, 4)
    assert set(SegmentID.objects.values_list("unit_id", flat=True)) == {
        "u1",
        "u2",
        "u3",
        "back\\slash",
    }
    event = AuditEvent.objects.filter(action="segment.ids_added").latest("id")
    assert event.before == {"count": 2}
    assert event.after == {"count": 4, "added": 2, "removed": 0}
    assert change.segment.revision == 3


def test_segment_ids_remove__present_and_absent_ids__only_present_removed(
    id_segment, project_member
):
    # Given
    services.segment_ids_add(actor=project_member, segment=id_segment, ids=["u1", "u2", "u3"])
    # When
    change = services.segment_ids_remove(
        actor=project_member, segment=id_segment, ids=["u2", "nobody"]
    )
    # Then
    assert (change.added, change.removed, change.segment.id_count) == (0, 1, 2)
    assert change.segment.id_list_generation == 2
    assert sorted(SegmentID.objects.values_list("unit_id", flat=True)) == ["u1", "u3"]


def test_segment_ids_replace_from_csv__with_header__list_becomes_the_file(
    id_segment, project_member
):
    # Given
    services.segment_ids_add(actor=project_member, segment=id_segment, ids=["keep", "drop"])
    upload = b'\xef\xbb\xbfuserID\r\nkeep\r\n"new,1"\r\n\r\nnew2,\r\n'
    # When
    change = services.segment_ids_replace_from_csv(
        actor=project_member, segment=id_segment, file=upload
    )
    # Then
    assert (change.added, change.removed, change.segment.id_count) == (2, 1, 3)
    assert sorted(SegmentID.objects.values_list("unit_id", flat=True)) == [
        "keep",
        "new,1",
        "new2",
    ]
    assert AuditEvent.objects.filter(action="segment.ids_replaced").count() == 1


@pytest.mark.parametrize(
    ("upload", "code"),
    [
        (b"u1\nu2,u3\n", "malformed_csv"),
        (b'u1\n"unterminated\n', "malformed_csv"),
        (b"\xff\xfe\x00bad", "malformed_csv"),
        (b"u1\nbad\x01id\n", "malformed_csv"),
        (b"id\n\n", "empty_csv"),
    ],
    ids=["two-columns", "bad-quote", "not-utf8", "control-char", "empty"],
)
def test_segment_ids_replace_from_csv__malformed_file__refused_and_nothing_changed(
    project, id_segment, project_member, upload, code
):
    # Given
    services.segment_ids_add(actor=project_member, segment=id_segment, ids=["u1"])
    before = _state(project)
    # When
    with pytest.raises(DomainError) as caught:
        services.segment_ids_replace_from_csv(actor=project_member, segment=id_segment, file=upload)
    # Then
    assert (caught.value.code, caught.value.field) == (code, "file")
    assert _state(project) == before


@pytest.mark.parametrize(
    ("ids", "code"),
    [
        ([], "no_ids"),
        (["ok", ""], "invalid_id"),
        (["x" * 257], "invalid_id"),
        (["a\nb"], "invalid_id"),
    ],
)
def test_segment_ids_add__bad_ids__refused_and_nothing_saved(
    project, id_segment, project_member, ids, code
):
    # Given
    before = _state(project)
    # When / Then
    with pytest.raises(DomainError) as caught:
        services.segment_ids_add(actor=project_member, segment=id_segment, ids=ids)
    assert caught.value.code == code
    assert _state(project) == before


def test_segment_ids_add__rule_based_segment__refused(project, project_admin):
    # Given
    segment = services.segment_create(
        actor=project_admin, project=project, document=segment_document()
    )
    # When / Then
    with pytest.raises(DomainError) as caught:
        services.segment_ids_add(actor=project_admin, segment=segment, ids=["u1"])
    assert caught.value.code == "not_an_id_list"


def test_segment_ids_add__viewer__refused(project, id_segment, project_viewer):
    # Given
    before = _state(project)
    # When / Then
    with pytest.raises(NotAllowed):
        services.segment_ids_add(actor=project_viewer, segment=id_segment, ids=["u1"])
    assert _state(project) == before


def test_parse_pasted_ids__mixed_separators__every_id():
    # When / Then
    assert parse_pasted_ids("a, b;c\n d\t\te ,") == ["a", "b", "c", "d", "e"]


def test_segment_id_list_text__ids__one_hashed_line_each_in_insert_order(id_segment, project_admin):
    # Given
    services.segment_ids_add(actor=project_admin, segment=id_segment, ids=["beta-tester-9"])
    services.segment_ids_add(actor=project_admin, segment=id_segment, ids=["a"])
    id_segment.refresh_from_db()
    # When
    lines = "".join(segment_id_list_text(id_segment)).splitlines(keepends=True)
    # Then (the hash of beta-tester-9 is the worked example of docs/statsig-spec.md §7)
    assert lines[0] == "+GBdxjFMo\n"
    assert len(lines) == 2
    assert segment_id_list_size(id_segment) == len("".join(lines).encode())


def test_segment_id_list_text__any_text__postgres_hashes_as_the_evaluator_does(
    id_segment, project_admin, monkeypatch
):
    # Given IDs PostgreSQL and Python could encode differently, and pieces of two lines
    ids = ["ünïcødé", "emoji-\U0001f600", "back\\slash", "x" * 120, "quote'\"", "日本語", "7"]
    services.segment_ids_add(actor=project_admin, segment=id_segment, ids=ids)
    monkeypatch.setattr("gates.idlists._FILE_PIECE_LINES", 2)
    # When
    pieces = list(segment_id_list_text(id_segment))
    # Then every piece holds whole lines, and the file is the Python hashes in insert order
    assert [piece.count("\n") for piece in pieces] == [2, 2, 2, 1]
    assert all(piece.endswith("\n") for piece in pieces)
    inserted = SegmentID.objects.filter(segment=id_segment).order_by("pk")
    expected = [f"+{id_list_hash(u)}\n" for u in inserted.values_list("unit_id", flat=True)]
    assert "".join(pieces) == "".join(expected)


def test_segment_ids_add__one_million_ids__all_inserted(id_segment, project_admin):
    # Given (how fast is make bench's business: bench/idlists.py)
    ids = [f"user-{n:07d}" for n in range(1_000_000)]
    # When
    change = services.segment_ids_add(actor=project_admin, segment=id_segment, ids=ids)
    # Then
    assert change.added == 1_000_000
    assert SegmentID.objects.filter(segment=id_segment).count() == 1_000_000


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["id", "ID", "unit_id", "", "  ", "\r", "a,b", '"q"', "\t", "x" * 257]),
            st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
        ),
        max_size=8,
    )
)
def test_parse_id_csv__plain_reading__same_ids_as_the_csv_module(lines):
    # Given any file, however odd its lines
    text = "\n".join(lines)
    headers = idlists.HEADER_NAMES
    # When the fast reading takes it
    plain = idlists._plain_ids(text, headers)
    # Then the csv module reads the same IDs from it
    if plain is not None:
        assert plain == idlists._csv_ids(text, headers)


def _one_by_one(chunk):
    return "\n".join(idlists.clean_id(raw, n).replace("\\", "\\\\") for n, raw in enumerate(chunk))


@given(
    st.lists(
        st.one_of(
            st.text(max_size=6),
            st.sampled_from(
                [" a", "a ", "\u00a0b", "c\u2028", "\x85", "\\", "", "x" * 257, "a\nb", "\n"]
            ),
            st.integers(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_copy_block__whole_chunk_check__same_text_or_refusal_as_one_by_one(chunk):
    # When / Then: the block check cleans as clean_id does, ID by ID
    try:
        expected = _one_by_one(chunk)
    except DomainError:
        with pytest.raises(DomainError):
            idlists._copy_block(chunk, 0)
    else:
        assert idlists._copy_block(chunk, 0) == expected
