// Probing client for the programming-latency scenario, run in the client namespace:
//   node bench/tools/probe.ts <host> <port> <intervalMs> <maxSeconds>
// Sends one HTTP GET on a NEW connection every intervalMs (two loops, staggered) and records
// [send time (ms since epoch, sub-ms), pod name or "" on failure]. stdin "dump" prints the
// records since the last dump as one JSON line; "stop" or maxSeconds ends it.
import { request } from 'node:http';
import { createInterface } from 'node:readline';

const [host, portText, intervalText, maxText] = process.argv.slice(2);
const port = Number(portText), intervalMs = Number(intervalText);
const now = () => performance.timeOrigin + performance.now();
let records: [number, string][] = [];
let stopping = false;

function once(): Promise<void> {
  const sent = now();
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', agent: false, headers: { connection: 'close' }, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => { records.push([sent, res.statusCode === 200 ? body.trim() : '']); resolve(); });
      res.on('error', () => { records.push([sent, '']); resolve(); });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => { records.push([sent, '']); resolve(); });
    req.end();
  });
}

async function loop(offset: number): Promise<void> {
  await new Promise((r) => setTimeout(r, offset));
  while (!stopping) {
    const t = now();
    await once();
    const wait = intervalMs * 2 - (now() - t);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

const loops = [loop(0), loop(intervalMs)];
setTimeout(() => { stopping = true; }, Number(maxText) * 1000).unref();
createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line.trim() === 'dump') { process.stdout.write(`${JSON.stringify(records)}\n`); records = []; }
  if (line.trim() === 'stop') { stopping = true; await Promise.all(loops); process.exit(0); }
});
await Promise.all(loops);
process.exit(0);
