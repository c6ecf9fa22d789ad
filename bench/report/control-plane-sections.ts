// Report sections for the control-plane scenarios (1: rollout failures, 2: programming latency).
import type { TopLevelSpec } from 'vega-lite';
import { fmt, table } from './render.ts';
import { groupedSpec } from './charts.ts';
import type { RolloutSummary } from '../scenarios/rollout.ts';
import type { summarizeProgramming } from '../scenarios/programming.ts';

type Chart = (file: string, spec: TopLevelSpec) => string;

const MINSYNC_NOTE = 'Proxy names: `-1s` = kube-proxy with its default `minSyncPeriod: 1s`, as operators run it; `-1ms` = the same with 1 ms, standing for 0 s: kube-proxy\'s config defaulting turns a zero `minSyncPeriod` into 1 s (its log says `minSyncPeriod="1s"`), so 0 s cannot be configured.';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function rolloutSection(r: any, chart: Chart): string[] {
  const s: RolloutSummary[] = r.summary;
  const md = ['## Rollout failures (scenario 1, the headline)', ''];
  md.push(`N pods behind one NodePort Service; every pod replaced one at a time (new pod Ready, then the old one deleted, as a Deployment with maxSurge 1, maxUnavailable 0), ${r.config.reps} repetitions per setting. All proxies ran at the same time on their own nodes and saw the same rollouts. Clients: per proxy one new-connection client and one keep-alive client (a request failed on a reused connection before any response byte is retried once, as HTTP clients do), each one request at a time with a ${r.config.intervalMs} ms pause. The pod's app closes its listener at SIGTERM (no delay).`, '');
  md.push(MINSYNC_NOTE, '');
  const proxies = [...new Set(s.map((x) => x.proxy))];
  md.push('Headline, no preStop hook (all sizes, both clients, all repetitions):', '');
  md.push(table(['proxy', 'failed / requests', 'refused', 'reset', 'timeout', 'runs with failures', 'longest failure window ms'], proxies.map((p) => {
    const xs = s.filter((x) => x.proxy === p && x.preStopSeconds === 0);
    const sum = (f: (x: RolloutSummary) => number) => xs.reduce((a, x) => a + f(x), 0);
    return [p, `${sum((x) => x.failed)} / ${fmt(sum((x) => x.sent))}`, sum((x) => x.refused), sum((x) => x.reset), sum((x) => x.timeout), `${sum((x) => x.repsWithFailures)} of ${sum((x) => x.reps)}`, fmt(Math.max(...xs.map((x) => x.longestFailureWindowMs)))];
  })), '');
  md.push('Every setting:', '');
  md.push(table(['proxy', 'pods', 'preStop', 'client', 'failed / requests', 'refused', 'reset', 'timeout', 'other', 'reps with failures', 'longest failure window ms'],
    s.map((x) => [x.proxy, x.pods, x.preStopSeconds ? `sleep ${x.preStopSeconds}` : 'none', x.client, `${x.failed} / ${fmt(x.sent)}`, x.refused, x.reset, x.timeout, x.other, `${x.repsWithFailures} of ${x.reps}`, fmt(x.longestFailureWindowMs)])), '');
  const rows = s.filter((x) => x.preStopSeconds === 0).map((x) => ({ group: `N=${x.pods} ${x.client}`, target: x.proxy, value: x.failed }));
  md.push(chart('rollout-failures.svg', groupedSpec('Failed requests during rollouts without preStop (lower is better)', 'failed requests (sum over repetitions)', rows)), '');
  return md;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function programmingSection(r: any, chart: Chart): string[] {
  const s: ReturnType<typeof summarizeProgramming> = r.summary;
  const md = ['## Programming latency at scale (scenario 2)', ''];
  md.push(`Sizes: ${r.config.sizes.map((x: number) => fmt(x)).join(', ')} NodePort Services with 2-10 endpoints each (6 on average); ${r.config.rounds} rounds per proxy and size, one proxy running at a time on its own node. (a) "stop reaching": from the Ready=False status update of one of the probed Service's two pods to the first new connection (one every ~${r.config.probeIntervalMs} ms) that no longer reaches it. (b) The proxy's own \`kubeproxy_network_programming_duration_seconds\` over the same rounds, from its histogram buckets. Its start is the EndpointSlice's last-change-trigger-time, taken from the pod condition's lastTransitionTime, which has whole-second resolution: this metric reads up to 1 s high for every proxy, so (a) is the accurate figure. CPU per change: the proxy's CPU time (children included: iptables-restore, nft) during the rounds, minus its rate with the probe running and no change, divided by the number of changes (Ready=False and back); values at or under noise show as 0.`, '');
  md.push(MINSYNC_NOTE, '');
  // A round in which the proxy still sent to the not-ready pod after the limit is a censored
  // observation: shown as "> limit", never as a number it did not reach.
  const limit = `> ${fmt(r.roundLimitMs ?? 60_000)}`;
  md.push(table(['proxy', 'Services', 'endpoints', 'rounds', 'stop reaching p50 ms', 'p99 ms', 'own metric p50 ms', 'own metric p99 ms', 'CPU ms per change', 'start until healthy s'],
    s.map((x) => x.error
      ? [x.proxy, fmt(x.services), fmt(x.endpoints), '0', `not measured: ${x.error}`, '', '', '', '', '']
      : [x.proxy, fmt(x.services), fmt(x.endpoints), x.timedOutRounds ? `${x.rounds} + ${x.timedOutRounds} timed out` : String(x.rounds),
        x.timedOutRounds && !x.rounds ? limit : fmt(x.stopReachingP50Ms), x.timedOutRounds ? limit : fmt(x.stopReachingP99Ms),
        fmt(x.ownMetricP50Ms), fmt(x.ownMetricP99Ms), fmt(x.cpuMsPerChange), fmt(x.startMs / 1000)])), '');
  if (s.some((x) => x.timedOutRounds)) md.push(`"timed out": the probe still reached the not-ready pod ${fmt(r.roundLimitMs ?? 60_000)} ms after Ready=False; the proxy's remaining rounds at that size were skipped.`, '');
  md.push(chart('programming-latency.svg', groupedSpec('Time until a not-ready pod stops receiving new connections, p99 (lower is better)', 'ms',
    s.filter((x) => !x.error && !x.timedOutRounds).map((x) => ({ group: `${fmt(x.services)} Services`, target: x.proxy, value: x.stopReachingP99Ms })), true)), '');
  return md;
}
