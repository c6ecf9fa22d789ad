// Baseline: the real kube-proxy (iptables and nftables modes) on the real control plane, with
// the same workload and disruption as our proxy's rolling-replacement test. Failures through
// kube-proxy are RECORDED (printed), not asserted: they are the problem this project exists to
// solve, and their number depends on timing. What is asserted is that the setup works at all
// (the NodePort serves through kube-proxy, and the load generator gets answers), so the
// comparison in nodeport-proxy.test.ts stands on a working cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './lib/cluster.ts';
import { e2eSupport } from './lib/e2e-env.ts';
import { LoadGenerator, describeStats, type LoadStats } from './lib/load.ts';
import { httpGetIn } from './lib/netns.ts';
import { sleep, waitFor } from './lib/proc.ts';
import { createNodePortService, waitEndpoints } from './lib/services.ts';
import { rollingReplace, runPods } from './lib/workloads.ts';

const support = await e2eSupport();

describe.skipIf(!support.run)('real kube-proxy baseline (failures recorded, not asserted)', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await Cluster.start({ name: 'e2e-kp', nodes: 2, apiPort: 6443, etcdPort: 2379, kcmPort: 10257 });
  }, 600_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  for (const [i, mode] of (['iptables', 'nftables'] as const).entries()) {
    it(`${mode}: serves a NodePort Service; rolling replacement of 3 pods without preStop, both client kinds`, async () => {
      const ns = cluster.namespace;
      // A node of its own per mode: kube-proxy modes must not share a namespace's rules.
      const node = cluster.nodes[i];
      await cluster.startKubeProxy(node, mode);
      const app = `kp-${mode}`;
      const nodePort = 30100 + i;
      await createNodePortService(cluster.api, { namespace: ns, name: app, nodePort, selector: { app } });
      let pods = await runPods(cluster.kubelet, 3, (k) => ({
        name: `${app}-a${k}`,
        namespace: ns,
        node: cluster.nodes[k % cluster.nodes.length],
        labels: { app },
      }));
      await waitEndpoints(cluster.api, ns, app, '3 ready', (eps) => eps.filter((e) => e.ready).length === 3);
      const url = `http://${node.ip}:${nodePort}/`;
      const first = await waitFor(`${mode} NodePort ${url} serving`, async () => {
        const r = await httpGetIn(cluster.clientNs, url);
        return r.status === 200 ? r : undefined;
      });
      expect(first.body).toMatch(new RegExp(`^${app}-a\\d$`));

      const results: LoadStats[] = [];
      for (const [round, kind] of (['new', 'keepalive'] as const).entries()) {
        const load = await LoadGenerator.start({ ns: cluster.clientNs, host: node.ip, port: nodePort, mode: kind });
        try {
          await sleep(1_500);
          pods = await rollingReplace(cluster.kubelet, pods, (k) => ({
            name: `${app}-r${round}-${k}`,
            namespace: ns,
            node: cluster.nodes[k % cluster.nodes.length],
            labels: { app },
          }));
          await sleep(2_000);
        } finally {
          results.push(await load.stop());
        }
      }
      for (const s of results) {
        console.log(`[baseline kube-proxy ${mode}] rolling replacement, ${describeStats(s)}`);
        // The cluster worked: requests were answered before, during and after the replacement.
        expect(s.ok).toBeGreaterThan(100);
      }
    }, 300_000);
  }
});
