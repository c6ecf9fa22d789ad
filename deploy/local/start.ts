// `npm start`: the bundled example. Starts the three backends named in deploy/local/objects.yaml
// on 127.0.0.11-13, then the proxy on that objects file. `curl http://127.0.0.1:30080/` answers
// from a backend. Extra arguments are passed to the proxy (e.g. --log-level debug).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startBackend } from '../../test/support/backend-server.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const backends = await Promise.all([11, 12, 13].map((n) => startBackend({ host: `127.0.0.${n}`, port: 18080, name: `web-${n - 10}` })));
process.stderr.write(`backends: ${backends.map((b) => `${b.name}=${b.host}:${b.port}`).join(' ')}\n`);
process.stderr.write('proxy: NodePort 30080 -> try: curl http://127.0.0.1:30080/   (Ctrl-C stops)\n');
const proxy = spawn(process.execPath, [here('../../proxy/cli/bin.ts'), '--objects-file', here('objects.yaml'), '--hostname-override', 'local', ...process.argv.slice(2)], { stdio: 'inherit' });
const stop = () => proxy.kill('SIGTERM');
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
proxy.on('exit', (code) => {
  for (const b of backends) b.kill();
  process.exit(code ?? 0);
});
