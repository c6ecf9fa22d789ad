// The FailedToBindNodePort Event recorder against a real HTTP endpoint standing in for the API server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { KubeConfig } from '@kubernetes/client-node';
import { createServiceEventRecorder, REASON_FAILED_TO_BIND_NODE_PORT } from '../../../proxy/observe/service-events.ts';

interface Posted {
  path: string;
  body: Record<string, any>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startEventsApi(statusCode = 201) {
  const posted: Posted[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      posted.push({ path: `${req.method} ${req.url}`, body: JSON.parse(data || '{}') });
      res.writeHead(statusCode, { 'content-type': 'application/json' });
      res.end(statusCode < 300 ? data : JSON.stringify({ kind: 'Status', code: statusCode, message: 'events is forbidden: no RBAC' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { posted, kc };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function harness(kc: KubeConfig) {
  let now = Date.parse('2025-01-01T00:00:00Z');
  const logs: Array<Record<string, unknown>> = [];
  const recorder = createServiceEventRecorder({
    kubeConfig: kc,
    nodeName: 'node-a',
    component: 'nodeport-proxy',
    logger: pino({ level: 'debug' }, { write: (l: string) => void logs.push(JSON.parse(l)) }),
    clock: () => now,
  });
  cleanups.push(() => recorder.stop());
  return { recorder, logs, advance: (ms: number) => (now += ms) };
}

describe('service event recorder', () => {
  it('posts a Warning FailedToBindNodePort Event about the Service', async () => {
    const { posted, kc } = await startEventsApi();
    const { recorder } = harness(kc);
    recorder.bindFailed({ namespace: 'shop', name: 'web', uid: 'uid-1' }, 30080, 'listen EADDRINUSE: address already in use 0.0.0.0:30080');
    await waitFor('the post', () => posted.length === 1);
    expect(posted[0].path).toBe('POST /api/v1/namespaces/shop/events');
    const ev = posted[0].body;
    expect(ev).toMatchObject({
      type: 'Warning',
      reason: REASON_FAILED_TO_BIND_NODE_PORT,
      involvedObject: { kind: 'Service', apiVersion: 'v1', namespace: 'shop', name: 'web', uid: 'uid-1' },
      reportingComponent: 'nodeport-proxy',
      reportingInstance: 'node-a',
      source: { component: 'nodeport-proxy', host: 'node-a' },
      metadata: { namespace: 'shop' },
      count: 1,
    });
    expect(ev.message).toContain('30080');
    expect(ev.message).toContain('EADDRINUSE');
    expect(ev.metadata.name).toMatch(/^web\.[0-9a-f]+$/);
    expect(ev.firstTimestamp).toBe('2025-01-01T00:00:00.000Z');
  });

  it('records at most one Event per Service per five minutes', async () => {
    const { posted, kc } = await startEventsApi();
    const { recorder, advance } = harness(kc);
    const web = { namespace: 'shop', name: 'web' };
    recorder.bindFailed(web, 30080, 'in use');
    recorder.bindFailed(web, 30080, 'in use');
    recorder.bindFailed(web, 30081, 'in use'); // another port of the same Service: still rate-limited
    recorder.bindFailed({ namespace: 'shop', name: 'api' }, 30090, 'in use');
    advance(4 * 60_000);
    recorder.bindFailed(web, 30080, 'in use');
    await waitFor('two posts', () => posted.length >= 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(posted.map((p) => p.body.involvedObject.name)).toEqual(['web', 'api']);
    advance(60_001);
    recorder.bindFailed(web, 30080, 'in use');
    await waitFor('the third post', () => posted.length === 3);
    expect(posted[2].body.involvedObject.name).toBe('web');
  });

  it('only logs when the API server refuses the Event', async () => {
    const { posted, kc } = await startEventsApi(403);
    const { recorder, logs } = harness(kc);
    expect(() => recorder.bindFailed({ namespace: 'shop', name: 'web' }, 30080, 'in use')).not.toThrow();
    await waitFor('the warning', () => logs.some((l) => l.level === 40));
    expect(posted).toHaveLength(1);
    const warning = logs.find((l) => l.level === 40)!;
    expect(String(warning.msg)).toContain('shop/web');
    expect(String(warning.error)).toContain('403');
  });

  it('posts nothing after stop()', async () => {
    const { posted, kc } = await startEventsApi();
    const { recorder } = harness(kc);
    recorder.stop();
    recorder.bindFailed({ namespace: 'shop', name: 'web' }, 30080, 'in use');
    await new Promise((r) => setTimeout(r, 100));
    expect(posted).toEqual([]);
  });
});
