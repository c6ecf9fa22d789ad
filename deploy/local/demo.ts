// `npm run demo`: a rolling update through nodeport-proxy with no preStop sleep.
// Three backends serve a NodePort Service; under steady client load (new-connection-per-request
// and keep-alive clients), each backend is replaced the way a rolling update does it: a new one
// becomes ready, then the old one is marked not ready in the objects file and stopped AT ONCE.
// Prints succeeded/failed counts; exits 1 if any request failed.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackend, type Backend } from '../../test/support/backend-server.ts';
import { startLoad } from '../../test/support/http-load.ts';
import { endpointSlice, service, writeObjectsFile } from '../../test/support/objects.ts';

const NODE_PORT = Number(process.env.DEMO_NODE_PORT ?? 30090);
const BACKEND_PORT = 18090;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (s: string) => process.stdout.write(`${s}\n`);

const dir = mkdtempSync(path.join(os.tmpdir(), 'npp-demo-'));
const file = path.join(dir, 'objects.yaml');
const pods = new Map<string, { backend: Backend; ready: boolean }>();
const publish = () =>
  writeObjectsFile(file, [
    service({ name: 'web', namespace: 'demo', nodePort: NODE_PORT }),
    endpointSlice({
      service: 'web',
      namespace: 'demo',
      port: BACKEND_PORT,
      endpoints: [...pods.values()].map(({ backend, ready }) => ({ ip: backend.host, ready, serving: ready, terminating: !ready, nodeName: 'local' })),
    }),
  ]);
const startPod = async (n: number) => {
  const backend = await startBackend({ host: `127.0.0.${100 + n}`, port: BACKEND_PORT, name: `web-${n}` });
  pods.set(backend.host, { backend, ready: true });
};

for (const n of [1, 2, 3]) await startPod(n);
publish();
const proxy = spawn(
  process.execPath,
  [fileURLToPath(new URL('../../proxy/cli/bin.ts', import.meta.url)), '--objects-file', file, '--hostname-override', 'local', '--nodeport-addresses', '127.0.0.1/32',
    '--metrics-bind-address', '127.0.0.1:0', '--healthz-bind-address', '127.0.0.1:0', '--admin-bind-address', '127.0.0.1:0', '--log-level', 'warn'],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
for (let i = 0; i < 200; i++) {
  const ok = await fetch(`http://127.0.0.1:${NODE_PORT}/`).then((r) => r.ok, () => false);
  if (ok) break;
  await sleep(50);
}
say(`proxy listening on 127.0.0.1:${NODE_PORT}; backends web-1..3; starting load`);
const loads = [
  { name: 'new connection per request', load: startLoad({ host: '127.0.0.1', port: NODE_PORT, kind: 'new-connection', concurrency: 4, intervalMs: 5 }) },
  { name: 'keep-alive (1 retry on reused conn)', load: startLoad({ host: '127.0.0.1', port: NODE_PORT, kind: 'keep-alive', concurrency: 4, intervalMs: 5 }) },
];
await sleep(1000);

for (const n of [1, 2, 3]) {
  await startPod(n + 3);
  publish();
  say(`web-${n + 3} started and ready`);
  await sleep(500);
  const old = [...pods.values()].find((p) => p.backend.name === `web-${n}`)!;
  old.ready = false;
  publish(); // the EndpointSlice controller marks it terminating...
  await old.backend.stop(); // ...while the kubelet's SIGTERM stops it at once (no preStop sleep)
  pods.delete(old.backend.host);
  publish();
  say(`web-${n} marked not ready and stopped at once (no preStop sleep)`);
  await sleep(1000);
}

let failed = 0;
for (const { name, load } of loads) {
  const r = await load.stop();
  failed += r.failed;
  say(`${name.padEnd(38)} succeeded ${String(r.ok).padStart(6)}  failed ${r.failed}${r.failed ? ` ${JSON.stringify(r.failures)}` : ''}  (backends: ${Object.entries(r.byBackend).map(([b, c]) => `${b}=${c}`).join(' ')})`);
}
say(failed === 0 ? 'RESULT: 0 failed requests during the rolling update' : `RESULT: ${failed} failed requests`);
proxy.kill('SIGTERM');
await new Promise((r) => proxy.once('exit', r));
for (const p of pods.values()) p.backend.kill();
rmSync(dir, { recursive: true, force: true });
process.exit(failed === 0 ? 0 : 1);
