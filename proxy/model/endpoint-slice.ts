// Normalises a discovery.k8s.io/v1 EndpointSlice into plain records (kube-proxy-semantics.md,
// section 2). Pure; the input is never mutated.
import { isIP } from 'node:net';
import { badObject } from '../errors.ts';
import type { EndpointSliceObject } from '../source/events.ts';
import { objectRef } from '../source/events.ts';
import { LABEL_SERVICE_NAME } from '../source/selection.ts';
import { serviceKeyOf, type Protocol } from './service-port.ts';

export const ANNOTATION_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

export interface SlicePort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface SliceEndpoint {
  readonly ip: string;
  /** kube-proxy's reading: nil ready means ready, nil serving means serving, terminating must be true. */
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName: string | undefined;
  readonly zoneHints: readonly string[] | undefined;
}

export interface SliceInfo {
  readonly sliceKey: string;
  readonly sliceName: string;
  readonly serviceKey: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly ports: readonly SlicePort[];
  readonly endpoints: readonly SliceEndpoint[];
  /** From the last-change-trigger-time annotation, epoch ms, for network programming latency. */
  readonly triggerTimeMs: number | undefined;
}

export type SliceParse = { kind: 'slice'; slice: SliceInfo } | { kind: 'ignored'; reason: string };

export function parseEndpointSlice(obj: EndpointSliceObject): SliceParse {
  const ref = objectRef('EndpointSlice', obj);
  const namespace = obj.metadata?.namespace;
  const sliceName = obj.metadata?.name;
  if (!namespace || !sliceName) throw badObject(ref, 'metadata.name and metadata.namespace are required');
  const serviceName = obj.metadata?.labels?.[LABEL_SERVICE_NAME];
  if (!serviceName) return { kind: 'ignored', reason: `no ${LABEL_SERVICE_NAME} label` };
  const family = obj.addressType;
  if (family !== 'IPv4' && family !== 'IPv6') return { kind: 'ignored', reason: `addressType ${family}` };

  const ports: SlicePort[] = [];
  for (const p of obj.ports ?? []) {
    // kube-proxy skips ports with a nil name or a nil/zero number (semantics item 9).
    if (p.name === undefined || p.name === null || !p.port) continue;
    ports.push({ name: p.name, port: p.port, protocol: (p.protocol ?? 'TCP') as Protocol });
  }
  const endpoints: SliceEndpoint[] = [];
  for (const ep of obj.endpoints ?? []) {
    const raw = ep.addresses?.[0];
    if (!raw) continue;
    const ip = normaliseIP(raw);
    if (ip === undefined || (isIP(ip) === 4) !== (family === 'IPv4')) continue;
    const c = ep.conditions ?? {};
    endpoints.push({
      ip,
      ready: c.ready !== false,
      serving: c.serving !== false,
      terminating: c.terminating === true,
      nodeName: ep.nodeName ?? undefined,
      zoneHints: ep.hints?.forZones?.map((z) => z.name),
    });
  }
  return {
    kind: 'slice',
    slice: {
      sliceKey: `${namespace}/${sliceName}`,
      sliceName,
      serviceKey: serviceKeyOf(namespace, serviceName),
      family,
      ports,
      endpoints,
      triggerTimeMs: parseTriggerTime(obj.metadata?.annotations?.[ANNOTATION_TRIGGER_TIME]),
    },
  };
}

/** Like Go's ParseIPSloppy for what we need: leading zeros in IPv4 octets are tolerated. */
function normaliseIP(raw: string): string | undefined {
  const s = raw.trim();
  if (isIP(s)) return s.includes(':') ? s.toLowerCase() : s;
  const parts = s.split('.');
  if (parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return parts.map((p) => String(Number(p))).join('.');
  }
  return undefined;
}

/** RFC 3339 (with optional fraction); a Date (from a deserialising client) is accepted too. */
function parseTriggerTime(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = v instanceof Date ? v.getTime() : Date.parse(String(v));
  return Number.isFinite(ms) ? ms : undefined;
}
