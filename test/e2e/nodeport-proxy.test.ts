// OUR proxy on the real control plane (issue 4, item 5). One cluster for the file: the real
// kube-proxy (iptables) and our proxy (--kubeconfig) both run in node-1's namespace; node-2
// only hosts pods. Clients run in the client namespace and connect to node-1's address.
// Each test uses its own Service, NodePort and pod names, so the order of tests does not matter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './lib/cluster.ts';
import { e2eSupport } from './lib/e2e-env.ts';
import type { PodHandle } from './lib/kubelet.ts';
import { LoadGenerator, describeStats } from './lib/load.ts';
import { httpGetIn, nsExec, type NodeNet } from './lib/netns.ts';
import type { NodePortProxy } from './lib/nodeport-proxy.ts';
import { sleep, waitFor } from './lib/proc.ts';
import { LABEL_SERVICE_PROXY_NAME, createNodePortService, waitEndpoints } from './lib/services.ts';
import { deleteAll, rollingReplace, runPods } from './lib/workloads.ts';

const support = await e2eSupport();
const PROXY_NAME = 'nodeport-proxy';

describe.skipIf(!support.run)('nodeport-proxy with --kubeconfig on a real control plane', () => {
  let cluster: Cluster;
  let node: NodeNet;
  let proxy: NodePortProxy;

  beforeAll(async () => {
    cluster = await Cluster.start({ name: 'e2e-npp', nodes: 2, apiPort: 6444, etcdPort: 2381, kcmPort: 10258 });
    node = cluster.nodes[0];
    await cluster.startKubeProxy(node, 'iptables');
    proxy = await cluster.startNodePortProxy(node);
  }, 600_000);

  afterAll(async () => {
    if (proxy) console.log(`[nodeport-proxy log tail]\n${proxy.tail(20)}`);
    await cluster?.stop();
  }, 120_000);

  /** A Service (ours unless ours=false) with `count` pods spread over both nodes, all Ready and published. */
  async function service(
    app: string,
    nodePort: number,
    count: number,
    opts: { ours?: boolean; preStopSleepSeconds?: number; endpointsTimeoutMs?: number } = {},
  ) {
    const ns = cluster.namespace;
    await createNodePortService(cluster.api, {
      namespace: ns,
      name: app,
      nodePort,
      selector: { app },
      proxyName: opts.ours === false ? undefined : PROXY_NAME,
    });
    const pods = await runPods(cluster.kubelet, count, (k) => podSpec(app, `a${k}`, k, opts.preStopSleepSeconds));
    await waitEndpoints(cluster.api, ns, app, `${count} ready`, (eps) => eps.filter((e) => e.ready).length === count, opts.endpointsTimeoutMs);
    await waitServed(nodePort, app);
    return pods;
  }

  function podSpec(app: string, suffix: string, k: number, preStopSleepSeconds?: number) {
    return {
      name: `${app}-${suffix}`,
      namespace: cluster.namespace,
      node: cluster.nodes[k % cluster.nodes.length],
      labels: { app },
      preStopSleepSeconds,
    };
  }

  /** Waits until a GET through node-1's NodePort is answered by a pod of `app`; returns the pod name. */
  async function waitServed(nodePort: number, app: string, timeoutMs = 30_000): Promise<string> {
    return waitFor(
      `NodePort ${nodePort} served by ${app}`,
      async () => {
        const r = await httpGetIn(cluster.clientNs, `http://${node.ip}:${nodePort}/`);
        return r.status === 200 && r.body.startsWith(`${app}-`) ? r.body : undefined;
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  /** Whether some process listens on node-1's address at this port (only our proxy ever listens). */
  async function listening(port: number): Promise<boolean> {
    const r = await nsExec(node.ns, ['ss', '-ltnH', `sport = :${port}`]);
    return r.stdout.trim() !== '';
  }

  /** Whether kube-proxy has rules for this NodePort. */
  async function kubeProxyHasRules(port: number): Promise<boolean> {
    const r = await nsExec(node.ns, ['iptables-save', '-t', 'nat']);
    return r.stdout.includes(`--dport ${port}`);
  }

  it('each proxy handles only its own Service', async () => {
    await service('own-ours', 30201, 2);
    await service('own-kp', 30202, 2, { ours: false });
    await waitFor('kube-proxy rules for 30202', () => kubeProxyHasRules(30202));
    // Ours: a listening socket, no kube-proxy rules. kube-proxy's: rules, no socket.
    expect(await listening(30201)).toBe(true);
    expect(await kubeProxyHasRules(30201)).toBe(false);
    expect(await listening(30202)).toBe(false);
    // Both answer, each with its own pods.
    for (let k = 0; k < 10; k++) {
      expect((await httpGetIn(cluster.clientNs, `http://${node.ip}:30201/`)).body).toMatch(/^own-ours-a\d$/);
      expect((await httpGetIn(cluster.clientNs, `http://${node.ip}:30202/`)).body).toMatch(/^own-kp-a\d$/);
    }
  }, 180_000);

  for (const [round, kind] of (['new', 'keepalive'] as const).entries()) {
    it(`rolling replacement of 3 pods without preStop, ${kind === 'new' ? 'new-connection' : 'keep-alive'} clients: 0 failed`, async () => {
      const app = `roll-${kind}`;
      const nodePort = 30203 + round;
      const old = await service(app, nodePort, 3);
      const load = await LoadGenerator.start({ ns: cluster.clientNs, host: node.ip, port: nodePort, mode: kind });
      let fresh: PodHandle[] = [];
      try {
        await sleep(1_500);
        fresh = await rollingReplace(cluster.kubelet, old, (k) => podSpec(app, `b${k}`, k));
        await sleep(2_000);
      } finally {
        const s = await load.stop();
        console.log(`[nodeport-proxy] rolling replacement, ${describeStats(s)}`);
        expect(s.failed, describeStats(s)).toBe(0);
        expect(s.ok).toBeGreaterThan(100);
        // The new pods took over. (Keep-alive clients stay on their connections, so not every
        // new pod necessarily saw one of them; new connections must reach every new pod.)
        expect(fresh.some((p) => (s.byPod[p.name] ?? 0) > 0)).toBe(true);
      }
      const seen = new Set<string>();
      for (let k = 0; k < 30; k++) seen.add((await httpGetIn(cluster.clientNs, `http://${node.ip}:${nodePort}/`)).body);
      expect([...seen].sort()).toEqual(fresh.map((p) => p.name).sort());
    }, 240_000);
  }

  it('scale down from 4 to 1 under load (both client kinds): 0 failed', async () => {
    const pods = await service('scale', 30205, 4);
    const loads = await Promise.all(
      (['new', 'keepalive'] as const).map((mode) => LoadGenerator.start({ ns: cluster.clientNs, host: node.ip, port: 30205, mode })),
    );
    try {
      await sleep(1_500);
      await deleteAll(cluster.kubelet, pods.slice(1));
      await sleep(2_000);
    } finally {
      for (const load of loads) {
        const s = await load.stop();
        console.log(`[nodeport-proxy] scale 4->1, ${describeStats(s)}`);
        expect(s.failed, describeStats(s)).toBe(0);
        expect(s.ok).toBeGreaterThan(100);
      }
    }
  }, 240_000);

  it('readiness flap: no new connections to a pod while it is not ready, traffic returns after', async () => {
    const [, p1] = await service('flap', 30206, 2);
    const load = await LoadGenerator.start({ ns: cluster.clientNs, host: node.ip, port: 30206, mode: 'new' });
    try {
      await waitFor('flap-a1 receives connections', () => p1.connections.length > 10);
      await cluster.kubelet.setReady(p1, false);
      await waitEndpoints(cluster.api, cluster.namespace, 'flap', 'a1 not ready', (eps) =>
        eps.some((e) => e.ip === p1.net.ip && !e.ready && !e.serving),
      );
      // Our proxy applies a change milliseconds after the watch event; 500 ms is generous.
      await sleep(500);
      const before = p1.connections.length;
      await sleep(3_000);
      expect(p1.connections.length - before, 'connections accepted by the not-ready pod').toBe(0);

      await cluster.kubelet.setReady(p1, true);
      await waitEndpoints(cluster.api, cluster.namespace, 'flap', 'a1 ready again', (eps) => eps.some((e) => e.ip === p1.net.ip && e.ready));
      await waitFor('flap-a1 receives connections again', () => p1.connections.length > before + 10, { timeoutMs: 10_000 });
    } finally {
      const s = await load.stop();
      console.log(`[nodeport-proxy] readiness flap, ${describeStats(s)}`);
      expect(s.failed, describeStats(s)).toBe(0);
    }
  }, 180_000);

  it('KEP-1669 fallback: all pods terminating but serving, traffic still served', async () => {
    // preStop sleep keeps the terminating pods listening for 12 s.
    const pods = await service('term', 30207, 2, { preStopSleepSeconds: 12 });
    const load = await LoadGenerator.start({ ns: cluster.clientNs, host: node.ip, port: 30207, mode: 'new' });
    let deletions: Promise<unknown> | undefined;
    try {
      await sleep(1_000);
      deletions = deleteAll(cluster.kubelet, pods);
      await waitEndpoints(cluster.api, cluster.namespace, 'term', 'all terminating, serving, not ready', (eps) =>
        eps.length === 2 && eps.every((e) => e.terminating && e.serving && !e.ready),
      );
      const s1 = await load.stats();
      await sleep(4_000);
      const s2 = await load.stats();
      expect(s2.ok - s1.ok, 'answers while every endpoint is terminating').toBeGreaterThan(50);
      expect(s2.failed, describeStats(s2)).toBe(0);
    } finally {
      console.log(`[nodeport-proxy] KEP-1669 fallback, ${describeStats(await load.stop())}`);
      await deletions;
    }
  }, 180_000);

  it('Service deleted: its NodePort listener closes', async () => {
    const pods = await service('gone', 30208, 1);
    expect(await listening(30208)).toBe(true);
    await cluster.api.delete(`/api/v1/namespaces/${cluster.namespace}/services/gone`);
    await waitFor('listener on 30208 closed', async () => !(await listening(30208)), { timeoutMs: 10_000 });
    const r = await httpGetIn(cluster.clientNs, `http://${node.ip}:30208/`);
    expect(r.status).toBe(0); // connection refused: nobody serves the port any more
    await deleteAll(cluster.kubelet, pods);
  }, 120_000);

  it('service-proxy-name label removed: our proxy lets go and kube-proxy takes over', async () => {
    await service('handover', 30209, 1);
    expect(await listening(30209)).toBe(true);
    expect(await kubeProxyHasRules(30209)).toBe(false);
    await cluster.api.mergePatch(`/api/v1/namespaces/${cluster.namespace}/services/handover`, {
      metadata: { labels: { [LABEL_SERVICE_PROXY_NAME]: null } },
    });
    await waitFor('our listener on 30209 closed', async () => !(await listening(30209)), { timeoutMs: 10_000 });
    await waitFor('kube-proxy rules for 30209', () => kubeProxyHasRules(30209), { timeoutMs: 10_000 });
    expect(await waitServed(30209, 'handover')).toMatch(/^handover-a0$/);
  }, 120_000);

  it('kube-apiserver stopped for 30 s under load: 0 failed, and changes after the restart are applied', async () => {
    const pods = await service('outage', 30210, 2);
    const loads = await Promise.all(
      (['new', 'keepalive'] as const).map((mode) => LoadGenerator.start({ ns: cluster.clientNs, host: node.ip, port: 30210, mode })),
    );
    try {
      await sleep(1_000);
      await cluster.cp.stopApiServer();
      await sleep(30_000);
      for (const load of loads) {
        const s = await load.stats();
        expect(s.failed, `during the outage: ${describeStats(s)}`).toBe(0);
        expect(s.ok).toBeGreaterThan(100);
      }
      expect(await proxy.healthy()).toBe(true);
      await cluster.cp.restartApiServer();

      // A new Service after the restart is picked up. The EndpointSlice controller (KCM) comes back
      // with client-go's reflector backoff, which after a 30 s outage can take another 30-60 s:
      // give the control plane 150 s to publish, then our proxy the usual 30 s to serve it.
      await service('after', 30211, 1, { endpointsTimeoutMs: 150_000 });
      // ...and so is a pod change on the unchanged Service, still without failures.
      const replaced = await rollingReplace(cluster.kubelet, pods.slice(0, 1), (k) => podSpec('outage', `b${k}`, k));
      await waitFor('outage-b0 answers', async () => {
        const r = await httpGetIn(cluster.clientNs, `http://${node.ip}:30210/`);
        return r.body === replaced[0].name;
      }, { timeoutMs: 30_000, intervalMs: 100 });
    } finally {
      for (const load of loads) {
        const s = await load.stop();
        console.log(`[nodeport-proxy] apiserver outage, ${describeStats(s)}`);
        expect(s.failed, describeStats(s)).toBe(0);
      }
    }
  }, 400_000);
});
