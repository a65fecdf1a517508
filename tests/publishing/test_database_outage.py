"""SDK serving with PostgreSQL down (issue 10): a live server on a PostgreSQL cluster of
the test's own, which the test then stops; download_config_specs, get_id_lists + files and
initialize answer from Redis alone, and a key revoked before the outage stays refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from glob import glob
from pathlib import Path

import pytest
import requests
from django.conf import settings

from console.publishing.client_init import hash_name
from console.specs.hashing import id_list_hash
from tests.publishing.conftest import REPO, core_sdk, free_port, sdk_server_up, wait_for

pytestmark = pytest.mark.slow

PG_BIN = sorted(glob("/usr/lib/postgresql/*/bin"))[-1] if glob("/usr/lib/postgresql/*/bin") else ""

# Run in the server's own settings against the private cluster: a project with two
# environments' keys, an ID-list segment large enough to be a file, gates, a publish and
# its push to Redis, and a second server key revoked before the outage.
SETUP = """
import json
from console import services
from console.publishing.services import config_spec_push, spec_publish
from gates import services as gates
from gates.specs import INLINE_ID_LIMIT
from tests.console.factories import UserFactory
from tests.gates.factories import condition, gate_document, rule, segment_document

admin = UserFactory(username="root", email="root@corp.example", is_staff=True, is_superuser=True)
project = services.project_create(actor=admin, name="Payments", slug="payments")
production = project.environments.get(name="production")
server = services.key_create(actor=admin, project=project, kind="server", environment=production)
client = services.key_create(actor=admin, project=project, kind="client", environment=production)
revoked = services.key_create(actor=admin, project=project, kind="server", environment=production)
segment = gates.segment_create(
    actor=admin, project=project, document=segment_document("beta", type="id_list")
)
gates.segment_ids_add(
    actor=admin, segment=segment, ids=[f"u{n}" for n in range(INLINE_ID_LIMIT + 5)]
)
gates.gate_create(actor=admin, project=project, document=gate_document(
    "beta_feature", rules=[rule("Beta", [condition("passes_segment", None, "beta")])]))
staff = [condition("email", "any", ["alice@corp.example"])]
gates.gate_create(actor=admin, project=project, document=gate_document(
    "new_checkout", rules=[rule("Staff", staff, 100)]))
version = spec_publish(actor=None, project=project)
for spec in version.config_specs.all():
    config_spec_push(spec_id=spec.pk)
services.key_revoke(actor=admin, key=revoked.key)
spec = version.config_specs.get(environment=production)
print("RESULT" + json.dumps({
    "server": server.secret, "client": client.secret, "revoked": revoked.secret,
    "time": spec.time_ms, "v1": spec.v1_json, "v2": spec.v2_json,
    "ids": INLINE_ID_LIMIT + 5,
}))
"""


class Cluster:
    """A PostgreSQL cluster of the test's own (never the shared one on 5432)."""

    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/gatehouse"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(f"{PG_BIN}/initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust")
        self._run(
            f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-w", "-l", str(self.data / "log"),
            "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}", "start",
        )  # fmt: skip
        self._run(f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "gatehouse")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")


@pytest.fixture
def cluster():
    if not PG_BIN or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    root = Path(tempfile.mkdtemp(prefix="gh-outage-"))
    os.chmod(root, 0o777)  # initdb runs as the postgres user
    server = Cluster(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def live(cluster):
    """migrate + SETUP on the private cluster, then gunicorn serving it."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": cluster.url,
        "CONN_MAX_AGE": "0",
        "REDIS_URL": settings.TEST_REDIS_URL,
        "CELERY_BROKER_URL": settings.TEST_REDIS_URL,
        "GATEHOUSE_SPEC_REDIS_URL": settings.TEST_REDIS_URL,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=300)
    out = subprocess.run(
        [*manage, "shell", "-c", SETUP],
        cwd=REPO, env=env, check=True, timeout=120, capture_output=True, text=True,
    ).stdout  # fmt: skip
    data = json.loads(out.rsplit("RESULT", 1)[1])
    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "console.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--timeout", "30"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    data["url"] = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: sdk_server_up(data["url"]), timeout=60, interval=0.2)
        yield data
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_database_down__sdk_endpoints_serve_from_redis(cluster, live):
    url, server, client = live["url"], live["server"], live["client"]
    # Given: the database is gone
    cluster.stop()
    down = requests.post(
        f"{url}/v1/get_id_lists", headers={"STATSIG-API-KEY": "secret-unknown"}, timeout=10
    )
    assert down.status_code == 503, "an unknown key can only be checked in the database"

    # download_config_specs v1 and v2, full and sinceTime, path key and header key
    for version in ("v1", "v2"):
        full = requests.get(f"{url}/{version}/download_config_specs/{server}.json", timeout=10)
        assert full.status_code == 200
        assert full.content == live[version].encode()
        current = requests.get(
            f"{url}/{version}/download_config_specs/{server}.json",
            params={"sinceTime": live["time"]},
            timeout=10,
        )
        assert current.json() == {"has_updates": False}
        older = requests.get(
            f"{url}/{version}/download_config_specs/{server}.json",
            params={"sinceTime": live["time"] - 1},
            timeout=10,
        )
        assert older.json()["time"] == live["time"]
    header = requests.get(
        f"{url}/v1/download_config_specs", headers={"STATSIG-API-KEY": server}, timeout=10
    )
    assert header.status_code == 200

    # get_id_lists and the file, whole and a Range
    manifest = requests.post(
        f"{url}/v1/get_id_lists", json={}, headers={"STATSIG-API-KEY": server}, timeout=10
    ).json()
    entry = manifest["beta"]
    expected = sorted(f"+{id_list_hash(f'u{n}')}".encode() for n in range(live["ids"]))
    whole = requests.get(entry["url"], timeout=10)
    assert whole.status_code == 200
    assert len(whole.content) == entry["size"]
    assert sorted(whole.content.splitlines()) == expected
    tail = requests.get(entry["url"], headers={"Range": "bytes=100-"}, timeout=10)
    assert (tail.status_code, tail.content) == (206, whole.content[100:])

    # initialize (client key): the ID-list gate evaluates from Redis alone
    for user_id, passes in (("u3", True), ("zed", False)):
        response = requests.post(
            f"{url}/v1/initialize",
            json={"user": {"userID": user_id, "email": "alice@corp.example"}},
            headers={"STATSIG-API-KEY": client, "Accept-Encoding": "gzip"},
            timeout=10,
        )
        assert response.status_code == 200
        payload = response.json()
        assert payload["time"] == live["time"]
        gates = payload["feature_gates"]
        assert gates[hash_name("beta_feature", "djb2")]["value"] is passes
        assert gates[hash_name("new_checkout", "djb2")]["value"] is True

    # a key revoked before the outage stays refused; the kinds stay apart
    revoked = requests.get(f"{url}/v1/download_config_specs/{live['revoked']}.json", timeout=10)
    assert revoked.status_code == 401
    wrong = requests.post(
        f"{url}/v1/initialize", json={}, headers={"STATSIG-API-KEY": server}, timeout=10
    )
    assert wrong.status_code == 403

    # the real statsig-python-core SDK initializes against the server, ID lists included
    import statsig_python_core as core

    sdk = core_sdk(server, url)
    try:
        details = sdk.initialize_with_details().result()
        assert details.is_config_spec_ready, details.source
        alice = core.StatsigUser(user_id="zed", email="alice@corp.example")
        assert sdk.check_gate(alice, "new_checkout") is True
        result = sdk.get_feature_gate(alice, "new_checkout")
        assert result.details.lcut == live["time"]
        assert wait_for(
            lambda: sdk.check_gate(core.StatsigUser(user_id="u3"), "beta_feature"), timeout=10
        )
        assert sdk.check_gate(core.StatsigUser(user_id="zed"), "beta_feature") is False
    finally:
        sdk.shutdown().wait()
