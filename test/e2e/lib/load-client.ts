// The client load generator process (started by load.ts inside the client namespace).
// argv[2] is a JSON LoadClientConfig. stdin commands, one per line:
//   stats  -> writes one JSON LoadStats line to stdout
//   stop   -> stops sending, waits for in-flight requests, writes the final LoadStats, exits
// Two client kinds:
//   new        a new TCP connection per request (Connection: close)
//   keepalive  a pooled keep-alive agent; a request that fails on a REUSED connection before any
//              response byte arrived (reset / hang-up / EPIPE) is retried once on a fresh
//              connection, as Go's net/http and most HTTP clients do for idempotent requests.
import { Agent, request, type ClientRequest } from 'node:http';
import { createInterface } from 'node:readline';

export interface LoadClientConfig {
  host: string;
  port: number;
  mode: 'new' | 'keepalive';
  concurrency: number;
  /** Pause between requests of one worker. */
  intervalMs: number;
  timeoutMs: number;
  path: string;
}

export type FailureKind = 'refused' | 'reset' | 'timeout' | 'other';

export interface LoadStats {
  mode: 'new' | 'keepalive';
  elapsedMs: number;
  sent: number;
  ok: number;
  failed: number;
  /** Keep-alive requests retried once after a stale reused connection (not failures). */
  retried: number;
  failures: Record<FailureKind, number>;
  /** Error codes / messages seen, with counts. */
  codes: Record<string, number>;
  /** Successful responses per pod name. */
  byPod: Record<string, number>;
  /** Longest time from a failure to the next success (or to the end of the run), ms. */
  longestFailureWindowMs: number;
  /** The first few failures, for diagnosis. */
  samples: { t: number; kind: FailureKind; code: string; reused: boolean; retry: boolean; gotResponse: boolean }[];
}

const cfg = JSON.parse(process.argv[2]) as LoadClientConfig;
const agent = cfg.mode === 'keepalive' ? new Agent({ keepAlive: true, maxSockets: cfg.concurrency }) : undefined;
const start = Date.now();
const stats: LoadStats = {
  mode: cfg.mode,
  elapsedMs: 0,
  sent: 0,
  ok: 0,
  failed: 0,
  retried: 0,
  failures: { refused: 0, reset: 0, timeout: 0, other: 0 },
  codes: {},
  byPod: {},
  longestFailureWindowMs: 0,
  samples: [],
};
let failingSince: number | undefined;
let stopping = false;

interface Outcome {
  pod?: string;
  err?: NodeJS.ErrnoException;
  /** True if the failure happened on a reused connection before any response byte. */
  staleReuse?: boolean;
  reused?: boolean;
  gotResponse?: boolean;
}

/**
 * One request. `fresh`: on a new connection outside the pool, for the retry after a stale reused
 * one (another pooled connection may have been closed by the same server at the same moment).
 */
function once(fresh = false): Promise<Outcome> {
  return new Promise((resolve) => {
    let gotResponse = false;
    let done = false;
    const finish = (o: Outcome) => {
      if (!done) {
        done = true;
        resolve(o);
      }
    };
    const req: ClientRequest = request(
      {
        host: cfg.host,
        port: cfg.port,
        path: cfg.path,
        agent: fresh ? false : (agent ?? false),
        headers: agent && !fresh ? {} : { connection: 'close' },
        timeout: cfg.timeoutMs,
      },
      (res) => {
        gotResponse = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode === 200) finish({ pod: body.trim() });
          else finish({ err: Object.assign(new Error(`HTTP ${res.statusCode}`), { code: `HTTP_${res.statusCode}` }) });
        });
        res.on('error', (err: NodeJS.ErrnoException) => finish({ err, reused: req.reusedSocket, gotResponse: true }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      const stale = req.reusedSocket && !gotResponse && (code === 'ECONNRESET' || code === 'EPIPE' || err.message === 'socket hang up');
      finish({ err, staleReuse: stale, reused: req.reusedSocket, gotResponse });
    });
    req.end();
  });
}

function kindOf(err: NodeJS.ErrnoException): FailureKind {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return err.message === 'socket hang up' ? 'reset' : 'other';
  }
}

function record(o: Outcome, retry: boolean): void {
  const now = Date.now();
  if (o.err) {
    const kind = kindOf(o.err);
    const code = o.err.code ?? o.err.message;
    stats.failed++;
    stats.failures[kind]++;
    stats.codes[code] = (stats.codes[code] ?? 0) + 1;
    if (stats.samples.length < 20) {
      stats.samples.push({ t: now - start, kind, code, reused: o.reused ?? false, retry, gotResponse: o.gotResponse ?? false });
    }
    failingSince ??= now;
  } else {
    stats.ok++;
    const pod = o.pod ?? '?';
    stats.byPod[pod] = (stats.byPod[pod] ?? 0) + 1;
    if (failingSince !== undefined) {
      stats.longestFailureWindowMs = Math.max(stats.longestFailureWindowMs, now - failingSince);
      failingSince = undefined;
    }
  }
}

async function worker(): Promise<void> {
  while (!stopping) {
    stats.sent++;
    let o = await once();
    let retry = false;
    if (o.err && o.staleReuse) {
      stats.retried++;
      retry = true;
      o = await once(true);
    }
    record(o, retry);
    if (cfg.intervalMs > 0) await new Promise((r) => setTimeout(r, cfg.intervalMs));
  }
}

function snapshot(): LoadStats {
  const now = Date.now();
  const open = failingSince !== undefined ? now - failingSince : 0;
  return { ...stats, elapsedMs: now - start, longestFailureWindowMs: Math.max(stats.longestFailureWindowMs, open) };
}

const workers = Array.from({ length: cfg.concurrency }, () => worker());
process.stdout.write(`${JSON.stringify({ ev: 'started' })}\n`);

createInterface({ input: process.stdin }).on('line', async (line) => {
  const cmd = line.trim();
  if (cmd === 'stats') process.stdout.write(`${JSON.stringify(snapshot())}\n`);
  if (cmd === 'stop' && !stopping) {
    stopping = true;
    await Promise.all(workers);
    agent?.destroy();
    process.stdout.write(`${JSON.stringify(snapshot())}\n`, () => process.exit(0));
  }
});
