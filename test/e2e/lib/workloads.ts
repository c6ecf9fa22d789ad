// What the Deployment/ReplicaSet controllers would do to pods, driven through the kubelet
// stand-in (no Deployment controller runs: the timing stays under the test's control).
import type { Kubelet, PodHandle, RunPodOptions } from './kubelet.ts';

/**
 * A rolling replacement with maxSurge=1, maxUnavailable=0 (the Deployment defaults for 3
 * replicas): start one new pod, once it is Ready delete one old pod (without waiting for its
 * termination, like the Deployment controller), repeat. Resolves when every old pod is gone.
 */
export async function rollingReplace(
  kubelet: Kubelet,
  old: PodHandle[],
  next: (i: number) => RunPodOptions,
): Promise<PodHandle[]> {
  const fresh: PodHandle[] = [];
  const deletions: Promise<unknown>[] = [];
  for (let i = 0; i < old.length; i++) {
    fresh.push(await kubelet.runPod(next(i)));
    deletions.push(kubelet.deletePod(old[i]));
  }
  await Promise.all(deletions);
  return fresh;
}

/** Starts `count` pods one after the other; make(i) chooses name, node and labels. */
export async function runPods(
  kubelet: Kubelet,
  count: number,
  make: (i: number) => RunPodOptions,
): Promise<PodHandle[]> {
  const pods: PodHandle[] = [];
  for (let i = 0; i < count; i++) pods.push(await kubelet.runPod(make(i)));
  return pods;
}

/** Deletes pods at the same time, as a ReplicaSet scaling down does; resolves when all are gone. */
export async function deleteAll(kubelet: Kubelet, pods: PodHandle[]): Promise<void> {
  await Promise.all(pods.map((p) => kubelet.deletePod(p)));
}
