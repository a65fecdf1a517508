// Drive a real Statsig Node SDK against the console over HTTP: evaluate, log events, flush.
//
// usage: node tests/metrics/node_events.js <input.json> <output.json>
// input:  {"sdk": "statsig-node" | "statsig-node-core", "key": "secret-...",
//          "api": "http://127.0.0.1:<port>/v1", "users": [{...}], "gates": ["..."],
//          "experiment": "<name>", "experiment_users": [<index>, ...], "layer": "<name>",
//          "params": ["..."], "events": [[<user index>, "<name>", <value>, {<metadata>}], ...],
//          "retry_backoff_ms": <number>}
// output: {"init": {...}, "flush": {...}, "rows": [{"gates": {"<name>": [value, ruleID]},
//          "experiment": [ruleID, groupName] | null, "layer": [ruleID, groupName]}, ...]}
// statsig-node reads the v1 spec from `api` and posts gzip to `api`/log_event, retrying a
// failed post; statsig-node-core (the Rust core) reads /v2/ and posts zstd.
const fs = require('fs');

async function statsigNode(input) {
  const statsig = require('statsig-node');
  const init = await statsig.initialize(input.key, {
    api: input.api,
    disableDiagnostics: true,
    rulesetsSyncIntervalMs: 3600 * 1000,
    idListsSyncIntervalMs: 3600 * 1000,
    loggingIntervalMs: 3600 * 1000,
    postLogsRetryBackoff: input.retry_backoff_ms || 100,
  });
  const sdk = {
    user: (u) => ({ ...u }),
    gate: (user, name) => {
      const g = statsig.getFeatureGateSync(user, name);
      return [g.value, g.ruleID];
    },
    experiment: (user, name) => {
      const e = statsig.getExperimentSync(user, name);
      return [e.getRuleID(), e.getGroupName()];
    },
    layer: (user, name, params) => {
      const l = statsig.getLayerSync(user, name);
      for (const p of params) l.get(p, null);
      return [l.getRuleID(), l.getGroupName()];
    },
    log: (user, name, value, metadata) => statsig.logEvent(user, name, value, metadata),
    flush: async () => statsig.flush(),
    shutdown: async () => statsig.shutdownAsync(),
  };
  return { init: { success: init.success, source: init.source }, sdk };
}

async function statsigNodeCore(input) {
  const { Statsig, StatsigUser } = require('@statsig/statsig-node-core');
  const origin = input.api.replace(/\/v1$/, '');
  const statsig = new Statsig(input.key, {
    specsUrl: origin + '/v2/download_config_specs',
    logEventUrl: origin + '/v1/log_event',
    idListsUrl: origin + '/v1/get_id_lists',
    enableIdLists: false,
    fallbackToStatsigApi: false,
    disableCountryLookup: true,
    outputLogLevel: 'none',
    specsSyncIntervalMs: 3600 * 1000,
    eventLoggingFlushIntervalMs: 3600 * 1000,
  });
  const init = await statsig.initialize();
  const sdk = {
    user: (u) => new StatsigUser(u),
    gate: (user, name) => {
      const g = statsig.getFeatureGate(user, name);
      return [g.value, g.ruleID];
    },
    experiment: (user, name) => {
      const e = statsig.getExperiment(user, name);
      return [e.ruleID, e.groupName];
    },
    layer: (user, name, params) => {
      const l = statsig.getLayer(user, name);
      for (const p of params) l.get(p, null);
      return [l.ruleID, l.groupName];
    },
    log: (user, name, value, metadata) => statsig.logEvent(user, name, value, metadata),
    flush: async () => statsig.flushEvents(),
    shutdown: async () => statsig.shutdown(),
  };
  return { init: { success: init.isSuccess, error: init.error || null }, sdk };
}

async function main() {
  const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const start = input.sdk === 'statsig-node-core' ? statsigNodeCore : statsigNode;
  const { init, sdk } = await start(input);
  const out = { init, rows: [] };
  if (!init.success) {
    fs.writeFileSync(process.argv[3], JSON.stringify(out));
    return;
  }
  const users = input.users.map(sdk.user);
  const experimentUsers = new Set(input.experiment_users || []);
  users.forEach((user, i) => {
    const row = { gates: {}, experiment: null, layer: null };
    for (const name of input.gates) row.gates[name] = sdk.gate(user, name);
    if (experimentUsers.has(i)) row.experiment = sdk.experiment(user, input.experiment);
    row.layer = sdk.layer(user, input.layer, input.params);
    out.rows.push(row);
  });
  for (const [i, name, value, metadata] of input.events) {
    sdk.log(users[i], name, value, metadata);
  }
  // statsig-node waits for a retry on an unref'd timer: a server process lives on, this
  // script must not end before it fires.
  const alive = setInterval(() => {}, 1000);
  out.flush = (await sdk.flush()) || null;
  clearInterval(alive);
  await sdk.shutdown();
  fs.writeFileSync(process.argv[3], JSON.stringify(out));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
