// parseFlags: defaults, the NODE_NAME fallback, and one NPP_BAD_FLAG naming the flag per bad flag.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../../proxy/cli/flags.ts';
import { ProxyError } from '../../../proxy/errors.ts';

function flagError(argv: string[], env: NodeJS.ProcessEnv = {}): ProxyError {
  try {
    parseFlags(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    return err as ProxyError;
  }
  throw new Error(`parseFlags(${JSON.stringify(argv)}) did not throw`);
}

describe('parseFlags', () => {
  it('defaults', () => {
    const f = parseFlags([], { NODE_NAME: 'node-a' });
    expect(f).toMatchObject({
      objectsFile: undefined,
      kubeconfig: undefined,
      hostnameOverride: 'node-a',
      proxyName: 'nodeport-proxy',
      nodePortAddresses: undefined,
      metricsBindAddress: { host: '127.0.0.1', port: 10265 },
      healthzBindAddress: { host: '0.0.0.0', port: 10266 },
      adminBindAddress: { host: '127.0.0.1', port: 10267 },
      logLevel: 'info',
      drainTimeoutMs: 0,
      connectTimeoutMs: 2000,
      maxConnectAttempts: 3,
      connectRetryBudgetMs: 5000,
      idleTimeoutMs: 24 * 3600_000,
      failedEndpointCooldownMs: 2000,
      lbAlgorithm: 'least-connections',
      shutdownTimeoutMs: 25_000,
      healthTimeoutMs: 60_000,
      reusePort: false,
      help: false,
      version: false,
    });
  });

  it.each([
    { name: 'NODE_NAME from the environment', argv: [], env: { NODE_NAME: 'from-env' }, want: 'from-env' },
    { name: '--hostname-override beats NODE_NAME', argv: ['--hostname-override', 'flag'], env: { NODE_NAME: 'from-env' }, want: 'flag' },
    { name: 'empty --hostname-override falls back to NODE_NAME', argv: ['--hostname-override='], env: { NODE_NAME: 'from-env' }, want: 'from-env' },
    { name: 'neither: the host name', argv: [], env: {}, want: os.hostname() },
  ])('node name: $name', ({ argv, env, want }) => {
    expect(parseFlags(argv, env).hostnameOverride).toBe(want);
  });

  it('every flag is read', () => {
    const f = parseFlags(
      [
        '--objects-file', '/etc/npp/objects.yaml',
        '--proxy-name', 'np2',
        '--nodeport-addresses', '10.0.0.0/8, 127.0.0.1/32',
        '--metrics-bind-address', ':9100',
        '--healthz-bind-address', '[::1]:10256',
        '--admin-bind-address', '127.0.0.2:1',
        '--log-level', 'debug',
        '--drain-timeout', '1m30s',
        '--connect-timeout', '500ms',
        '--max-connect-attempts', '5',
        '--connect-retry-budget', '2.5s',
        '--idle-timeout', '0',
        '--failed-endpoint-cooldown', '100ms',
        '--lb-algorithm', 'random',
        '--shutdown-timeout', '1h',
        '--health-timeout', '30s',
        '--reuse-port',
        '--help',
        '--version',
      ],
      { NODE_NAME: 'n' },
    );
    expect(f).toMatchObject({
      objectsFile: '/etc/npp/objects.yaml',
      proxyName: 'np2',
      nodePortAddresses: '10.0.0.0/8, 127.0.0.1/32',
      metricsBindAddress: { host: '0.0.0.0', port: 9100 },
      healthzBindAddress: { host: '::1', port: 10256 },
      adminBindAddress: { host: '127.0.0.2', port: 1 },
      logLevel: 'debug',
      drainTimeoutMs: 90_000,
      connectTimeoutMs: 500,
      maxConnectAttempts: 5,
      connectRetryBudgetMs: 2500,
      idleTimeoutMs: 0,
      failedEndpointCooldownMs: 100,
      lbAlgorithm: 'random',
      shutdownTimeoutMs: 3600_000,
      healthTimeoutMs: 30_000,
      reusePort: true,
      help: true,
      version: true,
    });
  });

  it('--kubeconfig alone is accepted', () => {
    expect(parseFlags(['--kubeconfig', '/root/.kube/config'], {}).kubeconfig).toBe('/root/.kube/config');
  });

  describe('bad flags: NPP_BAD_FLAG naming the flag', () => {
    it.each<{ argv: string[]; flag: string }>([
      { argv: ['--nope'], flag: '--nope' },
      { argv: ['--drain-timeout'], flag: '--drain-timeout' },
      { argv: ['--drain-timeout='], flag: '--drain-timeout' },
      { argv: ['--drain-timeout', '5'], flag: '--drain-timeout' },
      { argv: ['--drain-timeout', '-1s'], flag: '--drain-timeout' },
      { argv: ['--connect-timeout', 'soon'], flag: '--connect-timeout' },
      { argv: ['--connect-retry-budget', '1d'], flag: '--connect-retry-budget' },
      { argv: ['--idle-timeout', '10 s'], flag: '--idle-timeout' },
      { argv: ['--failed-endpoint-cooldown', 's'], flag: '--failed-endpoint-cooldown' },
      { argv: ['--shutdown-timeout', '1h30'], flag: '--shutdown-timeout' },
      { argv: ['--health-timeout', ''], flag: '--health-timeout' },
      { argv: ['--max-connect-attempts', '0'], flag: '--max-connect-attempts' },
      { argv: ['--max-connect-attempts', '-2'], flag: '--max-connect-attempts' },
      { argv: ['--max-connect-attempts', '1.5'], flag: '--max-connect-attempts' },
      { argv: ['--max-connect-attempts', 'three'], flag: '--max-connect-attempts' },
      // Regression: Number() accepted hex, exponents and padding as an integer.
      { argv: ['--max-connect-attempts', '0x3'], flag: '--max-connect-attempts' },
      { argv: ['--max-connect-attempts', '1e1'], flag: '--max-connect-attempts' },
      { argv: ['--max-connect-attempts', ' 3'], flag: '--max-connect-attempts' },
      { argv: ['--log-level', 'loud'], flag: '--log-level' },
      { argv: ['--lb-algorithm', 'round-robin'], flag: '--lb-algorithm' },
      { argv: ['--metrics-bind-address', 'localhost'], flag: '--metrics-bind-address' },
      { argv: ['--healthz-bind-address', '0.0.0.0:99999'], flag: '--healthz-bind-address' },
      { argv: ['--admin-bind-address', '127.0.0.1:port'], flag: '--admin-bind-address' },
      { argv: ['--nodeport-addresses', '10.0.0.0/33'], flag: '--nodeport-addresses' },
      { argv: ['--nodeport-addresses', 'eth0'], flag: '--nodeport-addresses' },
      { argv: ['--nodeport-addresses', ','], flag: '--nodeport-addresses' },
      { argv: ['--reuse-port=yes'], flag: '--reuse-port' },
      { argv: ['--objects-file', 'a.yaml', '--kubeconfig', 'k'], flag: '--objects-file' },
    ])('$argv', ({ argv, flag }) => {
      const err = flagError(argv);
      expect(err.code).toBe('NPP_BAD_FLAG');
      expect(err.message).toContain(flag);
      expect(err.message).not.toMatch(/\n/);
    });

    it('--objects-file with --kubeconfig names both', () => {
      expect(flagError(['--kubeconfig', 'k', '--objects-file', 'a.yaml']).message).toMatch(/--objects-file and --kubeconfig/);
    });

    it('a positional argument', () => {
      expect(flagError(['serve']).code).toBe('NPP_BAD_FLAG');
    });
  });
});
