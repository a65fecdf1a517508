import os

import pytest
import redis
from django.conf import settings

from console import services
from console.models import Membership, Role
from tests.console.factories import UserFactory

# pytest-playwright runs an event loop in the main thread; the ORM calls in our sync tests
# are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# The SSO fixtures (a real OIDC provider) for tests/sso and tests/e2e/test_sso.py.
pytest_plugins = ["tests.sso.fixtures"]

PASSWORD = "correct-horse-battery"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(autouse=True)
def _flush_redis():
    """Each xdist worker owns one Redis DB (settings_test); empty it after every test."""
    yield
    redis.Redis.from_url(settings.TEST_REDIS_URL).flushdb()


@pytest.fixture
def site_admin(db):
    return UserFactory(username="root", email="root@corp.example", is_staff=True, is_superuser=True)


@pytest.fixture
def project(site_admin):
    """A project made the way users make it: default environments and tags, site_admin as admin."""
    return services.project_create(actor=site_admin, name="Payments", slug="payments")


def review_nowhere(project, admin) -> None:
    """Set the project's policy to require review nowhere: every change set applies at once.
    For tests of editing itself; tests of reviews use the default policy (production needs
    one approval)."""
    from reviews.services import EnvironmentRuleInput, review_policy_update

    review_policy_update(
        actor=admin,
        project=project,
        environments=[
            EnvironmentRuleInput(env.name, requires_review=False)
            for env in project.environments.all()
        ],
    )


@pytest.fixture
def no_review(project, site_admin):
    review_nowhere(project, site_admin)
    return project


@pytest.fixture
def project_admin(project, site_admin):
    return site_admin


def _member(project, role, name):
    user = UserFactory(username=name, email=f"{name}@corp.example")
    Membership.objects.create(project=project, user=user, role=role)
    return user


@pytest.fixture
def project_member(project):
    return _member(project, Role.MEMBER, "mia.member")


@pytest.fixture
def project_viewer(project):
    return _member(project, Role.VIEWER, "vic.viewer")


@pytest.fixture
def outsider(db):
    return UserFactory(username="otto.outsider", email="otto.outsider@corp.example")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def clickhouse_path(tmp_path_factory) -> str:
    """The embedded ClickHouse's data path of this test process (chdb opens one path per
    process; each xdist worker has its own temporary directory)."""
    path = str(tmp_path_factory.mktemp("clickhouse"))
    settings.GATEHOUSE_CLICKHOUSE_PATH = path
    return path


@pytest.fixture
def ch(clickhouse_path, settings):
    """The embedded ClickHouse (chdb, for real), its tables created and empty."""
    from metrics.clickhouse import TABLES, clickhouse, ensure_schema

    settings.GATEHOUSE_CLICKHOUSE_URL = ""
    settings.GATEHOUSE_CLICKHOUSE_PATH = clickhouse_path
    ensure_schema()
    client = clickhouse()
    for table in TABLES:
        client.command(f"TRUNCATE TABLE {table}")
    return client


@pytest.fixture
def clickhouse_engine(ch, settings):
    """GATEHOUSE_EVENTS_ENGINE = "clickhouse" on a clean embedded ClickHouse."""
    settings.GATEHOUSE_EVENTS_ENGINE = "clickhouse"
    return ch
