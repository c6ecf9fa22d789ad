// The `nodeport-proxy` command as a real process: flags, the `connections` subcommand and
// graceful shutdown on SIGTERM.
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../support/backend-server.ts';
import { endpointSlice, service, writeObjectsFile } from '../support/objects.ts';
import { freePort, get, PROXY_BIN, sleep, spawnProxyCli, startBackends } from './harness.ts';

const BIN = PROXY_BIN;
const run = promisify(execFile);
let child: ChildProcess | undefined;
let backends: Backend[] = [];
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
  for (const b of backends) b.kill();
  backends = [];
});

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, HOME: '/nonexistent', KUBERNETES_SERVICE_HOST: '' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('nodeport-proxy command', () => {
  it('--help lists every flag; --version prints the version', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--objects-file', '--kubeconfig', '--hostname-override', '--proxy-name', '--nodeport-addresses', '--metrics-bind-address', '--healthz-bind-address', '--admin-bind-address', '--log-level', '--drain-timeout']) {
      expect(help.stdout).toContain(flag);
    }
    expect((await runCli(['--version'])).stdout).toMatch(/^nodeport-proxy \d+\.\d+\.\d+\n$/);
  });

  it.each([
    [['--bogus'], 'nodeport-proxy: unknown flag --bogus'],
    [['--drain-timeout', 'soon'], 'nodeport-proxy: --drain-timeout: "soon" is not a duration (like 500ms, 2s, 1m30s)'],
    [['--metrics-bind-address', 'nope'], 'nodeport-proxy: --metrics-bind-address: "nope" is not HOST:PORT (like 127.0.0.1:10265)'],
    [['--nodeport-addresses', '10.0.0.0/40'], 'nodeport-proxy: --nodeport-addresses: "10.0.0.0/40" is not a CIDR (like 10.0.0.0/8 or 127.0.0.1/32)'],
    [['--objects-file', '/does/not/exist.yaml'], 'nodeport-proxy: --objects-file: /does/not/exist.yaml does not exist'],
    [['--log-level', 'loud'], 'nodeport-proxy: --log-level: "loud" is not one of trace, debug, info, warn, error, fatal, silent'],
  ])('bad flags %j: one line naming the flag, exit code 2', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${message}\n`);
  });

  it('without a source: a clear message and exit code 1', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no source: pass --objects-file PATH or --kubeconfig PATH/);
  });

  it('serves, lists connections like conntrack -L, and drains open connections on SIGTERM', async () => {
    const nodePort = await freePort();
    backends = await startBackends('127.3.1', 11, 1);
    const [a] = backends as [Backend];
    const dir = mkdtempSync(path.join(os.tmpdir(), 'npp-cli-'));
    const file = path.join(dir, 'objects.yaml');
    writeObjectsFile(file, [service({ name: 'web', nodePort }), endpointSlice({ service: 'web', port: a.port, endpoints: [{ ip: a.host }] })]);
    const { proc, logs, ports } = await spawnProxyCli(file);
    const [healthzPort, adminPort] = [ports.healthz, ports.admin];
    child = proc;
    for (let i = 0; i < 300 && !logs().includes('listener opened'); i++) await sleep(20);
    expect(logs()).toContain('listener opened');
    expect(await get(nodePort)).toEqual({ status: 200, body: 'pod-11' });
    const healthz = await fetch(`http://127.0.0.1:${healthzPort}/healthz`);
    expect(healthz.status).toBe(200);
    expect(healthz.headers.get('content-type')).toBe('application/json');

    // A long-lived connection, visible in the connection table.
    const stream = net.connect(nodePort, '127.0.0.1');
    let received = '';
    stream.on('data', (c) => (received += c));
    stream.write('GET /stream HTTP/1.1\r\nhost: x\r\n\r\n');
    await sleep(200);
    const listed = await runCli(['connections', '--admin-address', `127.0.0.1:${adminPort}`]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^PROTO\s+NODEPORT\s+CLIENT\s+BACKEND\s+SERVICE\s+STATE/);
    expect(listed.stdout).toContain(`TCP    ${nodePort}`);
    expect(listed.stdout).toMatch(new RegExp(`${a.host.replace(/\./g, '\\.')}:${a.port}\\s+default/web:http/TCP\\s+open`));
    expect(listed.stdout).toContain('nodeport-proxy: 1 connections');

    // SIGTERM: new connections are refused at once, the open one keeps flowing until it ends.
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    await sleep(300);
    expect(await get(nodePort)).toEqual({ error: 'ECONNREFUSED' });
    const n = received.length;
    await sleep(200);
    expect(received.length).toBeGreaterThan(n);
    stream.destroy();
    expect(await exited).toBe(0);
    expect(logs()).toContain('shutting down');
  });
});
