// Small process helpers for the benchmarks: run a command to completion, or keep one running in
// the background (optionally inside a network namespace) and stop it by its own pid.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunResult { stdout: string; stderr: string; code: number }

/** Runs argv to completion; never throws on a non-zero exit (callers decide), only on spawn errors. */
export function run(argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0], argv.slice(1), { maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 0 },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err);
        resolve({ stdout: String(stdout), stderr: String(stderr), code: child.exitCode ?? (err ? 1 : 0) });
      });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like run() but throws with the command's stderr when it exits non-zero. */
export async function must(argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

export const sh = (script: string, opts?: { timeoutMs?: number }) => must(['bash', '-c', script], opts);

/**
 * argv prefixed so it runs in netns `ns` with its soft fd limit raised to the hard limit (the
 * idle-connection test needs many fds; the hard limit itself cannot be raised without
 * CAP_SYS_RESOURCE, see fdHardLimit()).
 */
export function inNs(ns: string | null, argv: string[]): string[] {
  const inner = ['bash', '-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', '_', ...argv];
  return ns ? ['ip', 'netns', 'exec', ns, ...inner] : inner;
}

export interface Background {
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Starts argv in the background with stdout+stderr appended to logFile. */
export function background(argv: string[], logFile: string, env?: NodeJS.ProcessEnv): Background {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  if (!child.pid) throw new Error(`could not start ${argv[0]}`);
  const pid = child.pid;
  return {
    pid, child, exited,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // The wrapper (bash -> exec) replaces itself, so pid is the real process; its children
      // (nginx workers, node workers) exit with it. Kill only the tree we started.
      const tree = processTree(pid);
      try { process.kill(pid, signal); } catch { /* already gone */ }
      const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) for (const p of tree) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
      await Promise.race([exited, sleep(2000)]);
      for (const p of tree) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
      log.end();
    },
  };
}

/** pid and all of its descendants (from /proc), so multi-process proxies are measured whole. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch { /* exited while listing */ }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

const CLK_TCK = 100; // USER_HZ on Linux x86-64; /proc/<pid>/stat times are in these ticks

/** CPU seconds (user+system) used so far by the process tree rooted at pid, reaped children included. */
export function cpuSeconds(root: number): number {
  let ticks = 0;
  for (const p of processTree(root)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, cutime, cstime (stat fields 14-17): the c* fields hold reaped children,
      // e.g. the iptables-restore / nft runs kube-proxy execs for every sync.
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch { /* exited */ }
  }
  return ticks / CLK_TCK;
}

/** Seconds of CPU time the whole machine spent so far, all cores, by kind (/proc/stat, first line). */
export interface MachineCpu { user: number; system: number; irq: number; softirq: number }

export function machineCpu(): MachineCpu {
  // cpu  user nice system idle iowait irq softirq steal ...
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { user: (f[0] + f[1]) / CLK_TCK, system: f[2] / CLK_TCK, irq: f[5] / CLK_TCK, softirq: f[6] / CLK_TCK };
}

/** Resident set size in bytes of the process tree rooted at pid (sum of VmRSS). */
export function rssBytes(root: number): number {
  let kb = 0;
  for (const p of processTree(root)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch { /* exited */ }
  }
  return kb * 1024;
}

/** Polls fn until it returns true or the deadline passes. */
export async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await fn()) return performance.now() - start; // a throwing fn (process exited) ends the wait
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The per-process open-file hard limit this process (and so every child) is held to. */
export function fdHardLimit(): number {
  const m = /Max open files\s+\d+\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}
