// Idle-connection holder for the memory scenario.
//   server: node bench/tools/hold.ts server <host> <port>          echoes whatever it receives
//   client: node bench/tools/hold.ts client <host> <port> <count> <maxSeconds>
// The client opens <count> connections (at most 256 connecting at once), sends one byte on each
// and waits for its echo, so every connection is proven to reach the backend through the proxy
// (not merely accepted by it). It then prints one JSON line and keeps them open, idle, until
// SIGTERM or <maxSeconds>, so a run can never hang around.
import net from 'node:net';

const [mode, host, portText, countText, maxText] = process.argv.slice(2);
const port = Number(portText);

if (mode === 'server') {
  const server = net.createServer({ noDelay: true }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('error', () => s.destroy());
  });
  server.maxConnections = 1_000_000;
  server.listen({ host, port, backlog: 8192 }, () => console.log(JSON.stringify({ listening: port })));
  process.on('SIGTERM', () => process.exit(0));
} else if (mode === 'client') {
  const count = Number(countText);
  const maxMs = Number(maxText ?? 300) * 1000;
  const sockets: net.Socket[] = [];
  let ok = 0, failed = 0, inFlight = 0, next = 0;
  const started = performance.now();
  const done = new Promise<void>((resolve) => {
    const launch = () => {
      while (inFlight < 256 && next < count) {
        next++; inFlight++;
        const s = net.connect({ host, port });
        let settled = false;
        const settle = (good: boolean) => {
          if (settled) return;
          settled = true; inFlight--;
          if (good) { ok++; sockets.push(s); } else { failed++; s.destroy(); }
          if (ok + failed === count) resolve(); else launch();
        };
        s.setTimeout(15_000, () => settle(false));
        s.on('connect', () => s.write('x'));
        s.once('data', () => { s.setTimeout(0); settle(true); });
        s.on('error', () => settle(false));
        s.on('close', () => { if (!settled) settle(false); });
      }
    };
    launch();
  });
  await done;
  console.log(JSON.stringify({ ok, failed, openMs: Math.round(performance.now() - started) }));
  const stop = () => { for (const s of sockets) s.destroy(); process.exit(0); };
  process.on('SIGTERM', stop);
  setTimeout(stop, maxMs).unref();
  setInterval(() => {}, 1000);
} else {
  console.error('usage: hold.ts server|client host port [count maxSeconds]');
  process.exit(2);
}
