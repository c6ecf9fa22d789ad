// npm run bench [-- --quick] [--only datapath,memory,rollout,programming] [--cpu-prof]
// Runs the scenarios of issue 5 and writes bench/results/<timestamp>/{results.json,report.md,*.svg}.
// Every competitor runs in the same invocation, on the same machine and workload.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { machineFacts } from './lib/machine.ts';
import { startBackends, SERVICES } from './lib/backends.ts';
import { direct, haproxy, nginxStream, nodeportProxy, toolVersions, type ProxyEnv } from './lib/proxies.ts';
import { createDataPath } from './lib/topology.ts';
import { assertNoRules, KUBE_PROXY_MODES, KubeProxyTargets, kubeProxyTargetName } from './lib/kube-proxy-targets.ts';
import { runDataPath, summarizeDataPath, DATAPATH_FULL, DATAPATH_QUICK, type DataPathSample, type TargetFactory } from './scenarios/datapath.ts';
import { idleConnections, serviceScale } from './scenarios/memory.ts';
import { writeReport } from './report/render.ts';
import { fdHardLimit, type Background } from './lib/exec.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    // Comma-separated subset of proxies (for development; a published run measures all).
    targets: { type: 'string' },
    // A git revision of nodeport-proxy to measure beside the working tree, in the same run, as
    // target nodeport-proxy@REV (data path and memory): the before of a before/after.
    baseline: { type: 'string' },
  },
});

// test/e2e/lib/proc.ts run() ends the child's stdin after spawning; when the child has already
// exited that write fails with EPIPE on a stream without an error listener, which would crash
// the whole run (reported to the library's owner). Only that exact error is ignored here.
process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE' && err.syscall === 'write') return;
  console.error(err);
  process.exit(1);
});

const repoRoot = resolve(import.meta.dirname, '..');
process.chdir(repoRoot);
const quick = args.quick!;
const only = new Set((args.only ?? 'datapath,memory,rollout,programming').split(','));
const stamp = new Date().toISOString().replace(/[:]/g, '').replace(/\..*/, 'Z');
const outDir = resolve(args.out ?? join('bench/results', `${stamp}${quick ? '-quick' : ''}`));
const workDir = '/tmp/npb-work';
rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
mkdirSync(outDir, { recursive: true });

const baseline = args.baseline ? checkoutBaseline(args.baseline) : undefined;

/** A worktree of another revision beside this one, sharing its node_modules. */
function checkoutBaseline(rev: string): { name: string; root: string; commit: string } {
  const commit = execFileSync('git', ['rev-parse', '--short', rev], { encoding: 'utf8' }).trim();
  const root = `/tmp/npb-baseline-${commit}`;
  if (!existsSync(join(root, 'proxy/cli/bin.ts'))) {
    rmSync(root, { recursive: true, force: true });
    execFileSync('git', ['worktree', 'prune']);
    execFileSync('git', ['worktree', 'add', '--detach', root, commit], { stdio: 'ignore' });
  }
  if (!existsSync(join(root, 'node_modules'))) symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'), 'dir');
  return { name: `nodeport-proxy@${commit}`, root, commit };
}

const t0 = performance.now();
const log = (s: string) => console.log(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${s}`);

const results: Record<string, unknown> & { scenarios: Record<string, unknown>; errors: Record<string, string> } = {
  startedAt: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  command: `npm run bench --${quick ? ' --quick' : ''}${args.only ? ` --only ${args.only}` : ''}${args.targets ? ` --targets ${args.targets}` : ''}${args.baseline ? ` --baseline ${args.baseline}` : ''}`,
  machine: await machineFacts(),
  versions: await toolVersions(process.execPath),
  scenarios: {},
  errors: {},
};
const save = () => writeFileSync(join(outDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');

async function scenario(name: string, fn: () => Promise<unknown>): Promise<void> {
  if (!only.has(name)) return;
  log(`scenario ${name} ...`);
  try {
    results.scenarios[name] = await fn();
  } catch (err) {
    // A failed scenario is reported as failed, with its error, never as a number.
    results.errors[name] = (err as Error).stack ?? String(err);
    log(`scenario ${name} FAILED: ${(err as Error).message}`);
  }
  save();
}

// Scenarios 3 and 4 share one netns topology and one set of backends.
if (only.has('datapath') || only.has('memory')) {
  const topo = await createDataPath(1);
  const env: ProxyEnv = { nodeNs: topo.nodeNs, clientNs: topo.clientNs, nodeIp: topo.nodeIp, podIps: topo.podIps, services: SERVICES, workDir, node: process.execPath, repoRoot };
  let backends: Background[] = [];
  try {
    backends = await startBackends(topo.podNs, topo.podIps, workDir, { node: process.execPath });
    const profDir = args['cpu-prof'] ? join(outDir, 'profiles') : undefined;
    // The kube-proxy targets need the control plane, started for scenario 3 only when one of them
    // is selected (bench/lib/kube-proxy-targets.ts).
    let kubeProxy: KubeProxyTargets | undefined;
    const factories: TargetFactory[] = [
      { name: 'direct', kind: 'none', start: async () => direct(env) },
      ...KUBE_PROXY_MODES.map((mode): TargetFactory => ({ name: kubeProxyTargetName(mode), kind: 'kernel', start: () => kubeProxy!.target(mode) })),
      { name: 'haproxy', kind: 'userspace', start: () => haproxy(env) },
      { name: 'nginx-stream', kind: 'userspace', start: () => nginxStream(env) },
      { name: 'nodeport-proxy', kind: 'userspace', start: () => nodeportProxy(env, { cpuProfDir: profDir }) },
      // As many workers as cores, as HAProxy (threads = CPUs) and nginx (worker_processes auto) run.
      { name: `nodeport-proxy-${os.cpus().length}w`, kind: 'userspace', start: () => nodeportProxy(env, { label: `nodeport-proxy-${os.cpus().length}w`, extraArgs: ['--workers', String(os.cpus().length)] }) },
      ...(baseline ? [{ name: baseline.name, kind: 'userspace' as const, start: () => nodeportProxy(env, { label: baseline.name, root: baseline.root }) }] : []),
    ];
    const wanted = args.targets ? new Set(args.targets.split(',')) : null;
    if (wanted) factories.splice(0, factories.length, ...factories.filter((f) => wanted.has(f.name)));
    const cfg = quick ? DATAPATH_QUICK : DATAPATH_FULL;
    const versions = results.versions as Record<string, string>;
    await scenario('datapath', async () => {
      let targets = factories;
      if (factories.some((f) => f.kind === 'kernel')) {
        log('datapath: control plane for the kube-proxy targets ...');
        try {
          kubeProxy = await KubeProxyTargets.start(topo, env, versions, log);
        } catch (err) {
          // The other targets are still measured; the kube-proxy ones are reported as not run.
          results.errors['datapath (kube-proxy targets)'] = `not run: ${(err as Error).stack ?? String(err)}`;
          log(`datapath: kube-proxy targets not run: ${(err as Error).message}`);
          targets = factories.filter((f) => f.kind !== 'kernel');
        }
      }
      let samples: DataPathSample[];
      try {
        samples = await runDataPath(topo, targets, cfg, log);
      } finally {
        await kubeProxy?.stop();
        kubeProxy = undefined;
      }
      return {
        config: cfg,
        topology: 'client netns -> node netns (proxy on the node IP) -> pod netns; direct = client -> pod IP routed by the node netns',
        backend: 'nginx (1 worker) returning a 2-byte body; iperf3 server',
        proxies: {
          haproxy: 'HAProxy tcp mode, Debian package defaults (threads = CPUs), timeouts 1h',
          'nginx-stream': 'nginx stream module, worker_processes auto',
          'nodeport-proxy': 'objects file, default flags (one process), Node flags of the Dockerfile ENTRYPOINT',
          [`nodeport-proxy-${os.cpus().length}w`]: `the same with --workers ${os.cpus().length}`,
          ...(baseline ? { [baseline.name]: `commit ${baseline.commit} (git worktree), default flags, Node flags of its own Dockerfile: the before of a before/after` } : {}),
          ...Object.fromEntries(KUBE_PROXY_MODES.map((mode) => [kubeProxyTargetName(mode),
            `${versions['kube-proxy'] ?? 'kube-proxy'}, ${mode} mode, default minSyncPeriod (1s; the rules are static while traffic is measured), nodePortAddresses = the node IP, selector-less NodePort Service + hand-made EndpointSlice from the real apiserver; rules removed (kube-proxy --cleanup, nft flush ruleset, conntrack -F) before the next target`])),
        },
        summary: summarizeDataPath(samples),
        samples,
      };
    });
    await scenario('memory', async () => {
      // A proxy needs two fds per proxied connection (client side, backend side). Where the
      // per-process hard limit is too low for 10,000 (and cannot be raised without
      // CAP_SYS_RESOURCE), every proxy gets the same lower count and the report says why.
      const limit = fdHardLimit();
      const idleCount = Math.min(10_000, Math.floor((limit - 500) / 2));
      // Leftover kube-proxy rules would send the clients past the proxies (stop() checks; again here).
      await assertNoRules(topo.nodeNs);
      const idle = await idleConnections(env, factories.filter((f) => f.kind === 'userspace'), idleCount, log);
      const scale = await serviceScale(env, 10_000, 10, log);
      return { fdHardLimit: limit, idleCount, idle, scale };
    });
  } finally {
    for (const b of backends) await b.stop();
    await topo.destroy();
  }
}

// Scenarios 1 and 2 need the real control plane (test/e2e/lib); loaded lazily so that the data
// path scenarios run even where the Kubernetes binaries are not built.
if (only.has('rollout') || only.has('programming')) {
  const cp = await import('./scenarios/control-plane.ts').catch((err: Error) => err);
  if (cp instanceof Error) {
    for (const s of ['rollout', 'programming']) if (only.has(s)) results.errors[s] = `not run: ${cp.message}`;
  } else {
    await cp.runControlPlaneScenarios({ quick, only, workDir, repoRoot, log, scenario, versions: results.versions as Record<string, string> });
  }
}

results.finishedAt = new Date().toISOString();
results.durationSeconds = Math.round((performance.now() - t0) / 1000);
save();
await writeReport(outDir, results);
log(`wrote ${outDir}`);
