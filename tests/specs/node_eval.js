// Evaluate many users with statsig-node, fully offline (localMode + a data adapter).
//
// usage: node tests/specs/node_eval.js <input.json> <output.json>
// input:  {"spec": <DCS v1 object>, "users": [...], "names": {"gate": [...], "config": [...],
//          "layer": [...]}, "id_lists": {"<list>": ["<8-char hash>", ...]},
//          "environment": "<tier>" | null}
// output: {"init": {...}, "gate"|"config"|"layer": {"<name>": [[value, ruleID, groupName], ...]}}
const fs = require('fs');
const statsig = require('statsig-node');
const StatsigInstanceUtils = require('statsig-node/dist/StatsigInstanceUtils').default;

async function main() {
  const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const specText = JSON.stringify(input.spec);
  const idLists = input.id_lists || {};
  const adapter = {
    initialize: async () => {},
    shutdown: async () => {},
    set: async () => {},
    supportsPollingUpdatesFor: () => false,
    get: async (key) => {
      if (key.includes('download_config_specs')) {
        return { result: specText, time: input.spec.time };
      }
      if (key.includes('get_id_lists')) {
        return { result: JSON.stringify(Object.keys(idLists)) };
      }
      const match = key.match(/id_list::(.*)\|plain_text\|/);
      if (match && idLists[match[1]]) {
        return { result: idLists[match[1]].map((id) => `+${id}\n`).join('') };
      }
      return { result: null };
    },
  };
  const options = { localMode: true, dataAdapter: adapter, disableDiagnostics: true };
  if (input.environment) {
    options.environment = { tier: input.environment };
  }
  const details = await statsig.initialize('secret-gatehouse-conformance', options);
  const entities = new Set(
    (input.spec.dynamic_configs || [])
      .filter((s) => s.entity === 'experiment')
      .map((s) => s.name),
  );
  // The module-level API has no exposure-free getFeatureGate; the server instance has.
  const server = StatsigInstanceUtils.getInstance();
  const out = { init: { success: details.success, source: details.source } };
  const names = input.names || {};
  out.gate = {};
  for (const name of names.gate || []) {
    out.gate[name] = input.users.map((u) => {
      const g = server.getFeatureGateWithExposureLoggingDisabledSync({ ...u }, name);
      return [g.value, g.ruleID, g.groupName];
    });
  }
  out.config = {};
  for (const name of names.config || []) {
    out.config[name] = input.users.map((u) => {
      const c = entities.has(name)
        ? statsig.getExperimentWithExposureLoggingDisabledSync({ ...u }, name)
        : statsig.getConfigWithExposureLoggingDisabledSync({ ...u }, name);
      return [c.value, c.getRuleID(), c.getGroupName()];
    });
  }
  out.layer = {};
  for (const name of names.layer || []) {
    out.layer[name] = input.users.map((u) => {
      const l = statsig.getLayerWithExposureLoggingDisabledSync({ ...u }, name);
      return [l._value, l.getRuleID(), l.getGroupName()];
    });
  }
  await statsig.shutdownAsync();
  fs.writeFileSync(process.argv[3], JSON.stringify(out));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
