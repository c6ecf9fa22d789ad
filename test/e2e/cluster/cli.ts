// npm run cluster -- up|down|status [--name e2e] [--nodes 2]
//   up      starts a control plane + node/client namespaces that outlive this command and prints
//           the admin kubeconfig path (use it with the kubectl from test/k8s-bins/build.sh)
//   status  prints whether the recorded processes run and the apiserver is ready
//   down    stops everything and removes the namespaces (also after a crashed run)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster, cleanupCluster, runDirFor } from '../lib/cluster.ts';
import { ControlPlane } from '../lib/control-plane.ts';
import { KubeApi } from '../lib/kube-api.ts';
import { listNetns } from '../lib/netns.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { name: { type: 'string', default: 'e2e' }, nodes: { type: 'string', default: '2' } },
});
const cmd = positionals[0];
const name = values.name!;

async function main(): Promise<number> {
  switch (cmd) {
    case 'up': {
      const c = await Cluster.start({ name, nodes: Number(values.nodes), detach: true });
      console.error(`cluster ${name} up: nodes ${c.nodes.map((n) => `${n.name}=${n.ip} (netns ${n.ns})`).join(', ')}; client netns ${c.clientNs}`);
      console.error(`node-namespace kubeconfig: ${c.cp.state.nodeKubeconfig}; kubectl: ${join(c.binDir, 'kubectl')}`);
      console.log(c.cp.state.kubeconfig);
      return 0;
    }
    case 'down':
      await cleanupCluster(name);
      console.error(`cluster ${name} down`);
      return 0;
    case 'status': {
      const state = ControlPlane.readState(runDirFor(name));
      if (!state) {
        console.log(`cluster ${name}: not running`);
        return 1;
      }
      const pidDir = join(state.runDir, 'pids');
      const procs = existsSync(pidDir) ? readdirSync(pidDir) : [];
      for (const f of procs) {
        const pid = Number(readFileSync(join(pidDir, f), 'utf8').split('\n')[0]);
        console.log(`${f.replace(/\.pid$/, '').padEnd(40)} pid ${pid} ${existsSync(`/proc/${pid}`) ? 'running' : 'DEAD'}`);
      }
      const api = new KubeApi({ server: `https://127.0.0.1:${state.apiPort}`, token: state.token, ca: readFileSync(state.caFile, 'utf8') });
      const ready = await api.request<string>('GET', '/readyz').then(() => true, () => false);
      console.log(`apiserver ready: ${ready}`);
      if (ready) {
        const nodes = await api.get('/api/v1/nodes');
        console.log(`nodes: ${nodes.items.map((n: { metadata: { name: string } }) => n.metadata.name).join(', ')}`);
      }
      console.log(`netns: ${(await listNetns(`npp-${name}-`)).join(', ')}`);
      api.close();
      console.log(state.kubeconfig);
      return ready ? 0 : 1;
    }
    default:
      console.error('usage: npm run cluster -- up|down|status [--name e2e] [--nodes 2]');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
