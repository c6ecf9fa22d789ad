// Turns results.json into report.md and SVG charts. Also a CLI to re-render a results directory:
//   node bench/report/render.ts bench/results/<timestamp>
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { barSpec, groupedSpec, renderSvg } from './charts.ts';
import type { DataPathSummary } from '../scenarios/datapath.ts';
import type { IdleResult, ScaleResult } from '../scenarios/memory.ts';
import { rolloutSection, programmingSection } from './control-plane-sections.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Results = Record<string, any>;

export const fmt = (v: number | null | undefined, digits = 3): string => {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(digits)).toString();
};
export const ratio = (a: number | null | undefined, b: number | null | undefined): string =>
  a === null || b === null || a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`;

export function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export async function writeReport(dir: string, r: Results): Promise<void> {
  const md: string[] = [];
  const charts: [string, Promise<string>][] = [];
  const chart = (file: string, spec: Parameters<typeof renderSvg>[0]) => { charts.push([file, renderSvg(spec)]); return `![${file}](${file})`; };
  const m = r.machine;
  md.push(`# nodeport-proxy benchmark report (${r.mode})`, '');
  md.push(`Run ${r.startedAt} → ${r.finishedAt ?? '?'} (${r.durationSeconds ?? '?'} s) with \`${r.command}\`.`, '');
  md.push(`Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, kernel ${m.kernel}, ${m.os}, Node ${m.node}.`, '');
  md.push(`Versions: ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join('; ')}.`, '');
  md.push('All proxies in a table were measured in this run, on this machine, on the same workload; ratios compare numbers from this run only.', '');
  md.push(`**IPVS**: not measured. This kernel has no IP_VS support (${m.ipvs.why}), so kube-proxy's IPVS mode cannot run here; no IPVS numbers are given.`, '');

  const dp = r.scenarios.datapath;
  if (dp) {
    const s: DataPathSummary[] = dp.summary;
    const by = (n: string) => s.find((x) => x.target === n);
    const ha = by('haproxy'), ng = by('nginx-stream'), di = by('direct');
    md.push('## Data path (scenario 3)', '');
    md.push(`${dp.topology}. Backend: ${dp.backend}. Medians of ${dp.config.reps} repetitions; wrk ${dp.config.seconds} s per measurement (keep-alive: ${dp.config.keepAliveConnections} connections; new connections: ${dp.config.newConnConnections} connections with \`Connection: close\`; latency: 1 connection, one request at a time), iperf3 ${dp.config.iperfStreams} streams × ${dp.config.iperfSeconds} s. The client, proxy and backend share the machine's ${m.cores} cores.`, '');
    md.push(table(
      ['proxy', 'keep-alive req/s', 'new conn/s', 'bulk Gbit/s', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms', 'CPU s / GB', 'CPU s / 10k conn', 'CPU s / 100k req', 'errors'],
      s.map((x) => [x.target, fmt(x.keepAliveRps), fmt(x.newConnPerSec), fmt(x.bulkGbps), fmt(x.latencyP50Ms), fmt(x.latencyP99Ms),
        x.target === 'direct' ? '0' : fmt(x.addedP50Ms), x.target === 'direct' ? '0' : fmt(x.addedP99Ms),
        fmt(x.cpuSecondsPerGB), fmt(x.cpuSecondsPer10kConn), fmt(x.cpuSecondsPer100kReq), x.errors]),
    ), '');
    md.push('CPU columns: user+system seconds of the proxy process tree (kernel NAT modes and direct have no process to measure: kube-proxy only writes the rules, and the forwarding is done by the kernel, in the softirq and system time of whichever process or CPU handles the packet).', '');
    if (s.some((x) => x.machineKernelSecondsPerGB != null)) {
      md.push('Whole-machine CPU during the same measurements (/proc/stat: the client, the proxy, the backend, the kernel forwarding and anything else running on the machine; kernel = system + irq + softirq). The only CPU figure for the kernel-NAT targets; compare each row with direct, which has the client and backend costs but no proxying:', '');
      md.push(table(['proxy', 'kernel CPU s / GB', 'user CPU s / GB', 'kernel CPU s / 10k conn', 'user CPU s / 10k conn'],
        s.map((x) => [x.target, fmt(x.machineKernelSecondsPerGB), fmt(x.machineUserSecondsPerGB), fmt(x.machineKernelSecondsPer10kConn), fmt(x.machineUserSecondsPer10kConn)])), '');
    }
    const ours = s.filter((x) => x.target.startsWith('nodeport-proxy') && !x.target.includes('@'));
    const before = s.find((x) => x.target.startsWith('nodeport-proxy@'));
    const ratioRow = (name: string, a: DataPathSummary, c: DataPathSummary) => [name, ratio(a.keepAliveRps, c.keepAliveRps), ratio(a.newConnPerSec, c.newConnPerSec), ratio(a.bulkGbps, c.bulkGbps), ratio(a.cpuSecondsPerGB, c.cpuSecondsPerGB), ratio(a.cpuSecondsPer10kConn, c.cpuSecondsPer10kConn)];
    for (const np of ours) {
      md.push(`Ratios (${np.target} ÷ competitor; higher is better for rates, lower for CPU):`, '');
      md.push(table(['vs', 'keep-alive req/s', 'new conn/s', 'bulk', 'CPU per GB', 'CPU per 10k conn'],
        [['HAProxy', ha], ['nginx stream', ng], ['kube-proxy iptables', by('kube-proxy-iptables')], ['kube-proxy nftables', by('kube-proxy-nftables')], ['direct', di]]
          .filter(([, o]) => o).map(([n, o]) => ratioRow(n as string, np, o as DataPathSummary))), '');
    }
    if (before && ours.length) {
      md.push(`Before/after, same run (${ours.map((x) => x.target).join(', ')} ÷ ${before.target}; higher is better for rates, lower for CPU):`, '');
      md.push(table(['after', 'keep-alive req/s', 'new conn/s', 'bulk', 'CPU per GB', 'CPU per 10k conn'], ours.map((np) => ratioRow(np.target, np, before))), '');
    }
    const rows = (f: (x: DataPathSummary) => number) => s.map((x) => ({ target: x.target, value: f(x) }));
    md.push(chart('datapath-keepalive.svg', barSpec('Keep-alive requests per second (higher is better)', 'req/s', rows((x) => x.keepAliveRps))));
    md.push(chart('datapath-newconn.svg', barSpec('New connections per second (higher is better)', 'conn/s', rows((x) => x.newConnPerSec))));
    md.push(chart('datapath-bulk.svg', barSpec('Bulk throughput, iperf3 (higher is better)', 'Gbit/s', rows((x) => x.bulkGbps))));
    md.push(chart('datapath-latency.svg', groupedSpec('Round-trip latency, 1 connection (lower is better)', 'ms',
      s.flatMap((x) => [{ group: 'p50', target: x.target, value: x.latencyP50Ms }, { group: 'p99', target: x.target, value: x.latencyP99Ms }]))), '');
  }

  const mem = r.scenarios.memory;
  if (mem) {
    const idle: IdleResult[] = mem.idle;
    const ha = idle.find((x) => x.target === 'haproxy');
    md.push('## Memory (scenario 4)', '');
    md.push(`Idle connections: the client opens ${fmt(idle[0]?.connections)} connections through the proxy, each proven end to end by a byte echoed by the backend, then leaves them idle; RSS is the proxy process tree's VmRSS sum before and 2 s after.${mem.idleCount < 10_000 ? ` The count is ${fmt(mem.idleCount)}, not 10,000, for every proxy: the per-process open-file hard limit here is ${fmt(mem.fdHardLimit)} and cannot be raised (no CAP_SYS_RESOURCE), and a proxy needs two descriptors per proxied connection.` : ''}`, '');
    const idleBefore = idle.find((x) => x.target.startsWith('nodeport-proxy@'));
    md.push(table(['proxy', 'opened', 'failed', 'RSS before MiB', 'RSS with connections MiB', 'KiB per connection', 'vs HAProxy', ...(idleBefore ? [`vs ${idleBefore.target}`] : [])],
      idle.map((x) => [x.target, x.opened, x.failed, fmt(x.rssBeforeBytes / 2 ** 20), fmt(x.rssAfterBytes / 2 ** 20), fmt(x.bytesPerConnection / 1024), ratio(x.bytesPerConnection, ha?.bytesPerConnection),
        ...(idleBefore ? [x.target.startsWith('nodeport-proxy') ? ratio(x.bytesPerConnection, idleBefore.bytesPerConnection) : ''] : [])])), '');
    md.push(chart('memory-idle.svg', barSpec('Memory per idle proxied connection (lower is better)', 'KiB per connection', idle.map((x) => ({ target: x.target, value: x.bytesPerConnection / 1024 })))), '');
    const sc: ScaleResult | undefined = mem.scale;
    if (sc) {
      md.push(`Scale: nodeport-proxy loading ${fmt(sc.services)} NodePort Services with ${fmt(sc.endpoints)} endpoints from a ${fmt(sc.objectsFileBytes / 2 ** 20)} MiB objects file (NodePorts 20000-29999: the default range has only 2,768 ports) was serving the last Service after ${fmt(sc.readyMs / 1000)} s and held **${fmt(sc.rssBytes / 2 ** 20)} MiB** RSS.`, '');
    }
  }

  if (r.scenarios.rollout) md.push(...rolloutSection(r.scenarios.rollout, chart));
  if (r.scenarios.programming) md.push(...programmingSection(r.scenarios.programming, chart));

  const errs = Object.entries(r.errors ?? {});
  if (errs.length) {
    md.push('## Scenarios that did not complete', '');
    for (const [k, v] of errs) md.push(`- **${k}**: ${String(v).split('\n')[0]}`);
    md.push('');
  }
  for (const [file, svg] of charts) writeFileSync(join(dir, file), await svg);
  writeFileSync(join(dir, 'report.md'), md.join('\n') + '\n');
}

if (import.meta.main) {
  const dir = resolve(process.argv[2] ?? '.');
  await writeReport(dir, JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results);
  console.log(`rendered ${dir}/report.md`);
}
