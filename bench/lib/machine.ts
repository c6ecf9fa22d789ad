// Facts about the machine a run happened on, recorded with every result.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { run } from './exec.ts';

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
  ipvs: { available: boolean; why: string };
}

export async function machineFacts(): Promise<MachineFacts> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  return {
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    os: /PRETTY_NAME="([^"]*)"/.exec(osRelease)?.[1] ?? os.type(),
    node: process.version,
    ipvs: await ipvsSupport(),
  };
}

/** IPVS needs the kernel's IP_VS; probe it the way kube-proxy does (the proc file, then modprobe). */
async function ipvsSupport(): Promise<{ available: boolean; why: string }> {
  if (existsSync('/proc/net/ip_vs')) return { available: true, why: '/proc/net/ip_vs exists' };
  const m = await run(['modprobe', '-n', 'ip_vs']).catch(() => ({ code: 1, stderr: 'modprobe missing', stdout: '' }));
  let config = '';
  for (const f of [`/boot/config-${os.release()}`]) if (existsSync(f)) config = /CONFIG_IP_VS=.*/.exec(readFileSync(f, 'utf8'))?.[0] ?? '';
  return { available: false, why: `no /proc/net/ip_vs; modprobe ip_vs: ${m.code === 0 ? 'ok?' : m.stderr.trim() || 'failed'}${config ? `; ${config}` : ''}` };
}
