"""A link into a project someone is not in: signed-in employees get a join prompt (open
project) or a request-access prompt (closed project); anyone else and the API still get
nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import AccessRequest, AccessRequestStatus, Membership, ProjectAccessMode
from tests.console.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def outsider():
    return UserFactory(username="otto", email="otto@corp.example")


def _open(project):
    project.access_mode = ProjectAccessMode.OPEN
    project.save(update_fields=["access_mode"])
    return project


def test_link__open_project__join_prompt_then_the_page(client, project, outsider):
    # Given an open project and an employee not in it
    _open(project)
    client.force_login(outsider)
    url = reverse("gate-list", args=[project.slug])

    # When they open a link to its gates
    response = client.get(url)

    # Then they are asked to join, not told the page does not exist
    html = response.content.decode()
    assert response.status_code == 403
    assert "Join Payments" in html
    assert "Nothing here" not in html
    assert Membership.objects.filter(user=outsider).count() == 0

    # When they join from the prompt, they land on the page of the link
    joined = client.post(reverse("project-join", args=[project.slug]), {"next": url})
    assert joined.status_code == 302
    assert joined["Location"] == url
    assert Membership.objects.get(user=outsider, project=project).role == project.default_role
    assert client.get(url).status_code == 200


def test_link__closed_project__request_access_prompt(client, project, outsider):
    # Given a closed project
    assert project.access_mode == ProjectAccessMode.CLOSED
    client.force_login(outsider)
    url = reverse("experiment-list", args=[project.slug])

    # When an employee opens a link into it
    response = client.get(url)

    # Then they may ask for access
    html = response.content.decode()
    assert response.status_code == 403
    assert "Payments is a closed project" in html
    assert reverse("project-request-access", args=[project.slug]) in html

    # When they ask, the request waits and the prompt says so
    client.post(reverse("project-request-access", args=[project.slug]), {"message": "hi"})
    request = AccessRequest.objects.get(user=outsider, project=project)
    assert request.status == AccessRequestStatus.PENDING
    assert "is waiting for its admins" in client.get(url).content.decode()
    assert not Membership.objects.filter(user=outsider, project=project).exists()


def test_link__not_signed_in__sign_in_first(client, project):
    _open(project)
    response = client.get(reverse("gate-list", args=[project.slug]))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_link__unknown_project__404(client, outsider):
    client.force_login(outsider)
    response = client.get(reverse("gate-list", args=["nope"]))
    assert response.status_code == 404
    assert "Nothing here" in response.content.decode()


def test_api__non_member__still_404(client, project, outsider):
    _open(project)
    client.force_login(outsider)
    response = client.get(reverse("console-api:api-tag-list"), {"project": project.slug})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
