// The workloads every proxy is measured against, identical for all of them, in the pod namespaces:
// nginx serving a 2-byte body over HTTP/1.1 (keep-alive and new-connection tests), iperf3 (bulk),
// and an idle echo holder (memory).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { background, inNs, waitFor, type Background } from './exec.ts';
import { tcpReachable } from './topology.ts';

export interface ServicePortSpec { name: string; nodePort: number; targetPort: number }

export const SERVICES: ServicePortSpec[] = [
  { name: 'http', nodePort: 30080, targetPort: 8080 },
  { name: 'iperf', nodePort: 30201, targetPort: 5201 },
  { name: 'hold', nodePort: 30900, targetPort: 9000 },
];

export function nginxBackendConf(dir: string, ip: string): string {
  // One worker: the backend is the same for every proxy; keepalive_requests high so a keep-alive
  // test measures keep-alive and not nginx's default reconnect every 1000 requests.
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen ${ip}:8080 backlog=8192 reuseport;
    location / { default_type text/plain; return 200 "ok"; }
  }
}
`;
}

export async function startBackends(podNs: string[], podIps: string[], workDir: string, bin: { node: string }): Promise<Background[]> {
  const started: Background[] = [];
  for (let i = 0; i < podNs.length; i++) {
    const dir = join(workDir, `backend-${i + 1}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'nginx.conf'), nginxBackendConf(dir, podIps[i]));
    started.push(background(inNs(podNs[i], ['nginx', '-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']), join(dir, 'nginx.out')));
    started.push(background(inNs(podNs[i], ['iperf3', '-s', '-B', podIps[i], '-p', '5201']), join(dir, 'iperf3.out')));
    started.push(background(inNs(podNs[i], [bin.node, 'bench/tools/hold.ts', 'server', podIps[i], '9000']), join(dir, 'hold.out')));
    for (const port of [8080, 5201, 9000]) {
      await waitFor(`backend ${podIps[i]}:${port}`, () => tcpReachable(podNs[i], podIps[i], port), 15_000);
    }
  }
  return started;
}
