// Process helpers shared by the e2e library: run a command to completion, start a long-running
// process with its output in a log file and its pid in a pid file (so a later run can clean up
// after a crash), stop it politely then forcefully, and poll for a condition.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (test/e2e/lib -> ../../..). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The Node binary for child processes. The machine's global node is too old for type stripping,
 * so prefer the current process when it is new enough (vitest started through npx), else the
 * pinned devDependency.
 */
export function nodeBin(): string {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 24) return process.execPath;
  return join(REPO_ROOT, 'node_modules/node/bin/node');
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv to completion and collects its output. Throws on a non-zero exit unless allowFail. */
export async function run(
  argv: string[],
  opts: { allowFail?: boolean; input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    // A child may exit before reading its input; that is its exit status's business, not an EPIPE crash.
    child.stdin?.on('error', () => undefined);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      if (code !== 0 && !opts.allowFail) {
        reject(new Error(`${argv.join(' ')} exited ${code}: ${stderr.trim() || stdout.trim()}`));
      } else {
        resolvePromise({ code, stdout, stderr });
      }
    });
    child.stdin?.end(opts.input);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls fn until it returns a truthy value; throws with `what` and the last error on timeout. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const detail = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out waiting for ${what}${detail}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

export interface ManagedProcessOptions {
  name: string;
  argv: string[];
  /** Directory for <name>.log and <name>.pid. */
  runDir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Keep the process alive after this Node process exits (the `cluster up` CLI). Otherwise it is
   * still started in its own process group, so a Ctrl-C to the test runner does not hit it
   * before our orderly shutdown does.
   */
  detach?: boolean;
  /** Pipe stdout to the caller (for processes that report events) instead of the log file. */
  pipeStdout?: boolean;
}

/** A long-running child with its output in runDir/<name>.log and its pid in runDir/pids/<name>.pid. */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly pidFile: string;

  constructor(opts: ManagedProcessOptions) {
    this.name = opts.name;
    mkdirSync(join(opts.runDir, 'pids'), { recursive: true });
    this.logFile = join(opts.runDir, `${opts.name}.log`);
    this.pidFile = join(opts.runDir, 'pids', `${opts.name}.pid`);
    const fd = openSync(this.logFile, 'a');
    const spawnOpts: SpawnOptions = {
      stdio: ['ignore', opts.pipeStdout ? 'pipe' : fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: true,
    };
    this.child = spawn(opts.argv[0], opts.argv.slice(1), spawnOpts);
    closeSync(fd);
    if (opts.detach) this.child.unref();
    this.exited = new Promise((r) => {
      this.child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        rmSync(this.pidFile, { force: true });
        r(this.exitInfo);
      });
      this.child.on('error', () => {
        this.exitInfo = { code: -1, signal: null };
        r(this.exitInfo);
      });
    });
    if (this.child.pid !== undefined) {
      // The first line is the pid, the second the argv[0] so cleanup can verify a reused pid.
      writeFileSync(this.pidFile, `${this.child.pid}\n${opts.argv[0]}\n`);
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined && this.child.pid !== undefined;
  }

  /** The last lines of the log, for error messages. */
  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Sends `signal`, waits up to timeoutMs, then SIGKILL. Resolves when the process has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(t);
  }
}

/**
 * Kills processes recorded in runDir/pids by an earlier (possibly crashed) run. A pid is only
 * killed while /proc/<pid>/cmdline still starts with the recorded argv[0], so a recycled pid of an
 * unrelated process is left alone.
 */
export async function killRecordedProcesses(runDir: string): Promise<void> {
  const dir = join(runDir, 'pids');
  if (!existsSync(dir)) return;
  const victims: number[] = [];
  for (const f of readdirSync(dir)) {
    const [pidText, argv0] = readFileSync(join(dir, f), 'utf8').split('\n');
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 1) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
      if (cmdline === argv0) {
        process.kill(pid, 'SIGKILL');
        victims.push(pid);
      }
    } catch {
      // already gone
    }
    rmSync(join(dir, f), { force: true });
  }
  await waitFor('recorded processes to exit', () => victims.every((p) => !existsSync(`/proc/${p}`)), {
    timeoutMs: 10_000,
  });
}
