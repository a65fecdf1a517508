from console.models import AuditEvent, Environment, Tag


def test_project_create__site_admin__makes_environments_tags_and_one_event(project, site_admin):
    assert list(Environment.objects.filter(project=project).values_list("name", flat=True)) == [
        "development",
        "staging",
        "production",
    ]
    assert Tag.objects.filter(project=project).count() == 5
    events = AuditEvent.objects.filter(project=project)
    assert [e.action for e in events] == ["project.created"]
    assert events[0].actor == site_admin
