"""The README's statsig-node adapter, run by statsig-node on what the push wrote to Redis."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from console.publishing.services import config_spec_push, spec_publish
from tests.publishing.conftest import REPO, readme_block

DRIVER = """
const fs = require('fs');
const statsig = require('statsig-node');
const data = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
// A stand-in for a node-redis/ioredis client: the values the push wrote to Redis.
const client = { get: async (key) => (key in data.redis ? data.redis[key] : null) };
(async () => {
  await statsig.initialize(data.key, {
    dataAdapter: gatehouseNodeAdapter(client),
    api: 'http://127.0.0.1:9/v1',
    disableDiagnostics: true,
    initTimeoutMs: 3000,
  });
  const out = data.users.map((u) =>
    statsig.checkGateWithExposureLoggingDisabledSync(u, 'new_checkout'));
  process.stdout.write(JSON.stringify(out));
  await statsig.shutdownAsync?.();
  process.exit(0);
})();
"""


@pytest.mark.django_db
def test_readme_node_adapter__reads_pushed_spec(
    project, server_key, make_gate, spec_redis, tmp_path
):
    # Given: a pushed spec
    make_gate(emails=["alice@corp.example"])
    version = spec_publish(actor=None, project=project)
    config_spec_push(spec_id=version.config_specs.get(environment__name="production").pk)
    values = {k.decode(): spec_redis.get(k).decode() for k in spec_redis.keys("statsig|*")}
    source = tmp_path / "in.json"
    users = [{"userID": "a", "email": "alice@corp.example"}, {"userID": "b", "email": "b@x.io"}]
    source.write_text(json.dumps({"key": server_key.secret, "redis": values, "users": users}))
    script = tmp_path / "run.js"
    script.write_text(readme_block("node") + DRIVER)
    # When
    done = subprocess.run(
        ["node", str(script), str(source)],
        cwd=REPO,
        env={**os.environ, "NODE_PATH": str(REPO / "node_modules")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == [True, False]
