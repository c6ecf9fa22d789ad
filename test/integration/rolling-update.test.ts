// Issue 2, 12(a): three backends replaced one by one under continuous load, each marked not
// ready in the objects file and then stopped at once (no preStop sleep): 0 failed requests,
// with new-connection-per-request clients and with keep-alive clients.
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../support/backend-server.ts';
import { startLoad, type ClientKind } from '../support/http-load.ts';
import { endpointSlice, service } from '../support/objects.ts';
import { freePort, sleep, startBackends, startHarness, type Harness } from './harness.ts';

let h: Harness | undefined;
let backends: Backend[] = [];
afterEach(async () => {
  await h?.stop();
  for (const b of backends) b.kill();
  h = undefined;
  backends = [];
});

describe.each<[ClientKind, string]>([
  ['new-connection', '127.1.1'],
  ['keep-alive', '127.1.2'],
])('rolling replacement with %s clients', (kind, prefix) => {
  it('replaces 3 backends one at a time with 0 failed requests', async () => {
    const nodePort = await freePort();
    backends = await startBackends(prefix, 11, 3);
    const port = backends[0]!.port;
    // Endpoint list as the EndpointSlice controller would publish it over time.
    const eps = new Map<string, { ready: boolean; terminating: boolean }>(backends.map((b) => [b.host, { ready: true, terminating: false }]));
    const objects = () => [
      service({ name: 'web', nodePort }),
      endpointSlice({ service: 'web', port, endpoints: [...eps].map(([ip, c]) => ({ ip, ready: c.ready, serving: c.ready, terminating: c.terminating })) }),
    ];
    h = await startHarness(objects());
    const load = startLoad({ host: '127.0.0.1', port: nodePort, kind, concurrency: 4, intervalMs: 2 });
    await sleep(300);

    for (let i = 0; i < 3; i++) {
      // A new pod becomes ready first (maxSurge), then the old one is deleted: the controller
      // marks it terminating/not ready while the kubelet sends SIGTERM at the same moment.
      const [fresh] = await startBackends(prefix, 21 + i, 1, port);
      backends.push(fresh!);
      eps.set(fresh!.host, { ready: true, terminating: false });
      await h.write(objects());
      await sleep(200);
      const old = backends[i]!;
      eps.set(old.host, { ready: false, terminating: true });
      const stopped = old.stop(); // no preStop: the app stops accepting right away
      await h.write(objects());
      await stopped;
      eps.delete(old.host);
      await h.write(objects());
      await sleep(200);
    }
    await sleep(200);
    const result = await load.stop();
    expect(result.failures).toEqual({});
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(100);
    // Traffic ended on the replacements only.
    expect(Object.keys(result.byBackend)).toEqual(expect.arrayContaining(['pod-21', 'pod-22', 'pod-23']));
  });
});
