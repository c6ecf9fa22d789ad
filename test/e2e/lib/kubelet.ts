// The kubelet stand-in. It does, through the real API, what the kubelet does for the parts the
// EndpointSlice controller and proxies can observe (docs/real-control-plane.md section 3.6):
//   - registers Node objects (InternalIP = the node's address; the EndpointSlice controller skips
//     pods whose Node does not exist, kube-proxy needs it for its node IP);
//   - runs each pod's backend as a real process in its own pod namespace and, once it listens,
//     publishes Running + podIP + Ready=True through the status subresource;
//   - flips Ready (a readiness probe failing and recovering);
//   - on deletion reproduces the kubelet's sequence: optional preStop `exec sleep N`, SIGTERM,
//     wait up to terminationGracePeriodSeconds, SIGKILL, terminal status, then the final DELETE
//     with gracePeriodSeconds=0 and a UID precondition.
// Unlike the real kubelet it does not watch for deletions made by others: deletePod() issues the
// graceful DELETE itself and starts the sequence right away (the real kubelet reacts to the watch
// event within milliseconds, so this is, if anything, slightly harsher on the proxies).
import { type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Json, KubeApi } from './kube-api.ts';
import { nsExec, nsSpawn, type NodeNet, type PodNet, type Topology } from './netns.ts';
import { REPO_ROOT, nodeBin, waitFor } from './proc.ts';

export interface RunPodOptions {
  name: string;
  namespace: string;
  node: NodeNet;
  labels: Record<string, string>;
  /** Container port the backend listens on; default 8080. */
  port?: number;
  /** preStop exec `sleep N` before SIGTERM; default none (the case the proxy must make safe). */
  preStopSleepSeconds?: number;
  /** Default 30, as in Kubernetes. */
  terminationGracePeriodSeconds?: number;
  /** Publish Ready=True as soon as the backend listens; default true. */
  ready?: boolean;
  /** Record accepted connections (timestamps) from the backend; default true. */
  reportConnections?: boolean;
}

export interface PodHandle {
  name: string;
  namespace: string;
  uid: string;
  net: PodNet;
  port: number;
  opts: RunPodOptions;
  /** The backend process (in the pod namespace). */
  proc: ChildProcess;
  /** Accept times (ms since epoch) of connections the backend received. */
  connections: number[];
  /** Resolves when the backend process has exited. */
  exited: Promise<void>;
}

export class Kubelet {
  private readonly api: KubeApi;
  private readonly topology: Topology;
  private readonly pods = new Map<string, PodHandle>();

  constructor(opts: { api: KubeApi; topology: Topology }) {
    this.api = opts.api;
    this.topology = opts.topology;
  }

  /** Creates the Node object for a node namespace. Must happen before kube-proxy starts on it. */
  async registerNode(node: NodeNet): Promise<void> {
    await this.api.post('/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node.name, labels: { 'kubernetes.io/hostname': node.name, 'kubernetes.io/os': 'linux' } },
      spec: { podCIDR: node.podCidr, podCIDRs: [node.podCidr] },
      // Nodes keep status on create (node strategy), so no separate status update is needed.
      status: {
        addresses: [
          { type: 'InternalIP', address: node.ip },
          { type: 'Hostname', address: node.name },
        ],
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'e2e kubelet stand-in' }],
      },
    });
  }

  /** Creates the Pod object, starts its backend in a fresh pod namespace, and publishes its status. */
  async runPod(opts: RunPodOptions): Promise<PodHandle> {
    const port = opts.port ?? 8080;
    const grace = opts.terminationGracePeriodSeconds ?? 30;
    const container: Json = {
      name: 'app',
      image: 'e2e.invalid/backend:0',
      ports: [{ containerPort: port, protocol: 'TCP' }],
    };
    if (opts.preStopSleepSeconds) {
      container.lifecycle = { preStop: { exec: { command: ['sleep', String(opts.preStopSleepSeconds)] } } };
    }
    const created = await this.api.post(`/api/v1/namespaces/${opts.namespace}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: opts.name, labels: opts.labels },
      // nodeName set: no scheduler involved, and a graceful DELETE keeps the pod until we finish it.
      spec: { nodeName: opts.node.name, terminationGracePeriodSeconds: grace, containers: [container] },
    });
    const net = await this.topology.addPod(opts.node);
    const proc = nsSpawn(
      net.ns,
      [
        nodeBin(),
        join(REPO_ROOT, 'test/e2e/lib/backend-app.ts'),
        `--name=${opts.name}`,
        `--port=${port}`,
        ...(opts.reportConnections === false ? [] : ['--report']),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const handle: PodHandle = {
      name: opts.name,
      namespace: opts.namespace,
      uid: created.metadata.uid as string,
      net,
      port,
      opts,
      proc,
      connections: [],
      exited: new Promise((r) => proc.once('exit', () => r())),
    };
    this.pods.set(key(handle), handle);
    const listening = new Promise<void>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`backend of ${opts.name} exited early (${code})`)));
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        let ev: { ev?: string; t?: number };
        try {
          ev = JSON.parse(line);
        } catch {
          return;
        }
        if (ev.ev === 'listening') resolve();
        else if (ev.ev === 'conn' && ev.t) handle.connections.push(ev.t);
      });
    });
    await listening;
    await this.publishStatus(handle, opts.ready ?? true);
    return handle;
  }

  /** Publishes phase Running, the pod IP and the Ready condition (a readiness probe result). */
  async setReady(pod: PodHandle, ready: boolean): Promise<void> {
    await this.publishStatus(pod, ready);
  }

  private async publishStatus(pod: PodHandle, ready: boolean): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const r = ready ? 'True' : 'False';
    await this.api.mergePatch(`/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/status`, {
      status: {
        phase: 'Running',
        hostIP: pod.net.node.ip,
        hostIPs: [{ ip: pod.net.node.ip }],
        podIP: pod.net.ip,
        podIPs: [{ ip: pod.net.ip }],
        startTime: now,
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
          { type: 'Initialized', status: 'True', lastTransitionTime: now },
          { type: 'ContainersReady', status: r, lastTransitionTime: now },
          { type: 'Ready', status: r, lastTransitionTime: now },
        ],
        containerStatuses: [
          {
            name: 'app',
            image: 'e2e.invalid/backend:0',
            imageID: '',
            ready,
            restartCount: 0,
            started: true,
            state: { running: { startedAt: now } },
          },
        ],
      },
    });
  }

  /**
   * Deletes a pod the way a user/controller plus the kubelet would. Resolves when the Pod object
   * is gone and its namespace removed. Returns timings (ms since epoch) for analysis.
   */
  async deletePod(pod: PodHandle): Promise<{ deletedAt: number; sigtermAt: number; exitedAt: number; goneAt: number }> {
    const grace = pod.opts.terminationGracePeriodSeconds ?? 30;
    const base = `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}`;
    // 1. The graceful DELETE: the pod gets a deletionTimestamp, the EndpointSlice controller marks
    //    the endpoint ready=false, serving=true, terminating=true.
    await this.api.delete(base, { gracePeriodSeconds: grace });
    const deletedAt = Date.now();
    // 2. preStop hook (exec in the container, i.e. in the pod namespace).
    if (pod.opts.preStopSleepSeconds) {
      await nsExec(pod.net.ns, ['sleep', String(pod.opts.preStopSleepSeconds)], { allowFail: true });
    }
    // 3. SIGTERM, then SIGKILL once the rest of the grace period has passed.
    const sigtermAt = Date.now();
    pod.proc.kill('SIGTERM');
    const remaining = Math.max(0, grace * 1000 - (sigtermAt - deletedAt));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      pod.proc.kill('SIGKILL');
    }, remaining);
    await pod.exited;
    clearTimeout(timer);
    const exitedAt = Date.now();
    // 4. Terminal status (containers stopped), as the kubelet's status manager reports it.
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await this.api
      .mergePatch(`${base}/status`, {
        status: {
          phase: killed ? 'Failed' : 'Succeeded',
          conditions: [
            { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
            { type: 'Initialized', status: 'True', lastTransitionTime: now },
            { type: 'ContainersReady', status: 'False', lastTransitionTime: now },
            { type: 'Ready', status: 'False', lastTransitionTime: now },
          ],
          containerStatuses: [
            {
              name: 'app',
              image: 'e2e.invalid/backend:0',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode: killed ? 137 : 0, reason: killed ? 'Error' : 'Completed', finishedAt: now } },
            },
          ],
        },
      })
      .catch(() => undefined);
    // 5. Final delete: grace 0 with a UID precondition (kubelet status manager), so a new pod
    //    with the same name is never deleted by mistake.
    await this.api.deleteIfExists(base, { gracePeriodSeconds: 0, preconditions: { uid: pod.uid } });
    await waitFor(`pod ${pod.name} gone`, async () => !(await this.api.getOptional(base)), { timeoutMs: 30_000 });
    await this.topology.removePod(pod.net);
    this.pods.delete(key(pod));
    return { deletedAt, sigtermAt, exitedAt, goneAt: Date.now() };
  }

  /** Pods this kubelet runs. */
  list(): PodHandle[] {
    return [...this.pods.values()];
  }

  /** Kills all backends and removes their namespaces (the API objects are left alone). */
  async stopAll(): Promise<void> {
    for (const p of this.pods.values()) {
      p.proc.kill('SIGKILL');
      await p.exited;
      await this.topology.removePod(p.net);
    }
    this.pods.clear();
  }
}

function key(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}
