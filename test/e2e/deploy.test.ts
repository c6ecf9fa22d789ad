// deploy/ against the real apiserver: the kustomization validates server-side, its RBAC grants
// the proxy's ServiceAccount exactly the permissions the proxy needs (no more, no less), and our
// proxy actually runs with that ServiceAccount's token.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './lib/cluster.ts';
import { NODE_API_PORT } from './lib/control-plane.ts';
import { e2eSupport } from './lib/e2e-env.ts';
import { httpGetIn } from './lib/netns.ts';
import { REPO_ROOT, run, waitFor } from './lib/proc.ts';
import { createNodePortService, waitEndpoints } from './lib/services.ts';

const support = await e2eSupport();
const SA = 'system:serviceaccount:nodeport-proxy:nodeport-proxy';

/**
 * What the proxy needs (proxy/source/kubernetes.ts, proxy/observe/service-events.ts): read
 * Services, EndpointSlices and Nodes (list+watch; get), and create/patch Events about Services.
 */
const NEEDED: Record<string, string[]> = {
  services: ['get', 'list', 'watch'],
  nodes: ['get', 'list', 'watch'],
  'endpointslices.discovery.k8s.io': ['get', 'list', 'watch'],
  events: ['create', 'patch'],
  'events.events.k8s.io': ['create', 'patch'],
};

describe.skipIf(!support.run)('deploy/ on a real apiserver', () => {
  let cluster: Cluster;
  let kubectl: string[];

  beforeAll(async () => {
    cluster = await Cluster.start({ name: 'e2e-deploy', nodes: 1, apiPort: 6445, etcdPort: 2383, kcmPort: 10259 });
    kubectl = [join(cluster.binDir, 'kubectl'), `--kubeconfig=${cluster.cp.state.kubeconfig}`];
  }, 600_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  it('kubectl apply --dry-run=server -k deploy/ succeeds', async () => {
    // A server-side dry run cannot create the namespace its other objects live in, so on an
    // empty cluster it fails with 'namespaces "nodeport-proxy" not found' (a kubectl limitation,
    // not a manifest error). Create the namespace first, as an existing install would have it.
    await run([...kubectl, 'apply', '-f', join(REPO_ROOT, 'deploy/namespace.yaml')]);
    const r = await run([...kubectl, 'apply', '--dry-run=server', '-k', join(REPO_ROOT, 'deploy')], { allowFail: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/daemonset\.apps\/nodeport-proxy (created|configured|unchanged) \(server dry run\)/);
    expect(r.stdout).toMatch(/clusterrole\.rbac\.authorization\.k8s\.io\/nodeport-proxy (created|configured|unchanged) \(server dry run\)/);
  }, 120_000);

  it('the ServiceAccount gets exactly the permissions the proxy needs', async () => {
    await run([...kubectl, 'apply', '-k', join(REPO_ROOT, 'deploy')]);
    const granted = await canIList(SA);
    // Whatever the cluster grants every ServiceAccount by default (system:basic-user,
    // system:discovery, ClusterTrustBundle read, ...) is not deploy/'s doing: subtract it, as
    // seen for an account with no bindings in the same namespace.
    const baseline = await canIList('system:serviceaccount:nodeport-proxy:e2e-no-bindings');
    const ours: Record<string, string[]> = {};
    for (const [resource, verbs] of Object.entries(granted)) {
      const extra = verbs.filter((v) => !(baseline[resource] ?? []).includes(v));
      if (extra.length) ours[resource] = extra;
    }
    const needed = Object.fromEntries(Object.entries(NEEDED).map(([k, v]) => [k, [...v].sort()]));
    expect(ours, JSON.stringify({ granted, baseline })).toEqual(needed);
    // And the negative space, asked directly.
    for (const [verb, resource] of [
      ['get', 'secrets'],
      ['list', 'pods'],
      ['update', 'services'],
      ['delete', 'endpointslices.discovery.k8s.io'],
      ['patch', 'nodes'],
    ]) {
      const c = await run([...kubectl, 'auth', 'can-i', verb, resource, `--as=${SA}`, '-A'], { allowFail: true });
      expect(c.stdout.trim(), `${verb} ${resource}`).toBe('no');
    }
  }, 120_000);

  /** `kubectl auth can-i --list` as a user, cluster-wide resources only: resource -> sorted verbs. */
  async function canIList(user: string): Promise<Record<string, string[]>> {
    const r = await run([...kubectl, 'auth', 'can-i', '--list', `--as=${user}`]);
    const out: Record<string, string[]> = {};
    for (const line of r.stdout.split('\n').slice(1)) {
      // Resources   Non-Resource URLs   Resource Names   Verbs
      const m = /^(\S*)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]\s*$/.exec(line);
      if (!m || !m[1]) continue; // non-resource URLs (discovery, healthz) are everyone's
      const [, resource, , names, verbs] = m;
      expect(names, `${user}: ${resource} restricted by name`).toBe('');
      out[resource] = [...new Set([...(out[resource] ?? []), ...verbs.split(' ').filter(Boolean)])].sort();
    }
    return out;
  }

  it('our proxy serves a labelled Service using only the ServiceAccount token', async () => {
    // A short-lived token for the ServiceAccount (TokenRequest API), as the kubelet would mount it.
    const tr = await cluster.api.post('/api/v1/namespaces/nodeport-proxy/serviceaccounts/nodeport-proxy/token', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    });
    const kubeconfig = join(cluster.runDir, 'sa.kubeconfig');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "https://127.0.0.1:${NODE_API_PORT}", certificate-authority: ${cluster.cp.state.caFile}}}]
users: [{name: sa, user: {token: "${tr.status.token}"}}]
contexts: [{name: e2e, context: {cluster: e2e, user: sa}}]
current-context: e2e
`,
      { mode: 0o600 },
    );
    const node = cluster.nodes[0];
    const proxy = await cluster.startNodePortProxy(node, { kubeconfig });
    await createNodePortService(cluster.api, { namespace: cluster.namespace, name: 'rbac', nodePort: 30301, selector: { app: 'rbac' }, proxyName: 'nodeport-proxy' });
    await cluster.kubelet.runPod({ name: 'rbac-0', namespace: cluster.namespace, node, labels: { app: 'rbac' } });
    await waitEndpoints(cluster.api, cluster.namespace, 'rbac', '1 ready', (eps) => eps.some((e) => e.ready));
    await waitFor('NodePort 30301 served with the SA token', async () => (await httpGetIn(cluster.clientNs, `http://${node.ip}:30301/`)).body === 'rbac-0');
    // No authorization errors in the proxy's log.
    expect(proxy.tail(200)).not.toMatch(/forbidden/i);
  }, 180_000);
});
