// The standalone source: a YAML (one or many documents) or JSON (one object or a v1 List) file
// of Services, EndpointSlices and Nodes in the exact API schema. The file is watched; on each
// change the new contents are diffed against the last good ones by kind/namespace/name and the
// difference is delivered as upsert/delete events, exactly as watch events from the API would be.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { parseAllDocuments } from 'yaml';
import { ProxyError } from '../errors.ts';
import { objectRef, type Source, type SourceEvent, type SourceEventSink } from './events.ts';
import { isSelected } from './selection.ts';

type Kind = 'Service' | 'EndpointSlice' | 'Node';
const KINDS: Record<string, { kind: Kind; apiVersions: string[] }> = {
  Service: { kind: 'Service', apiVersions: ['v1'] },
  EndpointSlice: { kind: 'EndpointSlice', apiVersions: ['discovery.k8s.io/v1'] },
  Node: { kind: 'Node', apiVersions: ['v1'] },
};

interface Entry {
  kind: Kind;
  object: any;
  /** Canonical text, to tell a changed object from an unchanged one. */
  text: string;
}

export interface ObjectsFileOptions {
  file: string;
  proxyName: string;
  nodeName: string;
  logger: Logger;
  /** Coalesces the burst of fs events one save produces (ms). */
  debounceMs?: number;
}

export interface ParsedObjects {
  entries: Map<string, Entry>;
  /** Objects that were skipped, with the reason, by position or ref. */
  problems: string[];
}

/** Parses the file's text. Throws NPP_BAD_OBJECTS_FILE for a file that cannot be read as a whole. */
export function parseObjects(text: string, file: string, opts: { proxyName: string; nodeName: string }): ParsedObjects {
  const docs: unknown[] = [];
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      docs.push(JSON.parse(text));
    } catch (err) {
      throw new ProxyError('NPP_BAD_OBJECTS_FILE', `${file}: invalid JSON: ${(err as Error).message}`);
    }
  } else {
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) {
        const e = doc.errors[0]!;
        throw new ProxyError('NPP_BAD_OBJECTS_FILE', `${file}: invalid YAML at line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`);
      }
      docs.push(doc.toJS());
    }
  }
  const items: unknown[] = [];
  for (const d of docs) {
    if (d === null || d === undefined) continue;
    if (Array.isArray(d)) items.push(...d);
    else if (typeof d === 'object' && (d as any).kind === 'List' && Array.isArray((d as any).items)) items.push(...(d as any).items);
    else items.push(d);
  }
  const entries = new Map<string, Entry>();
  const problems: string[] = [];
  items.forEach((item, i) => {
    const where = `${file}: object #${i + 1}`;
    if (typeof item !== 'object' || item === null) {
      problems.push(`${where}: not an object`);
      return;
    }
    const o = item as any;
    const spec = KINDS[o.kind];
    if (!spec) {
      problems.push(`${where}: kind ${JSON.stringify(o.kind)} is not Service, EndpointSlice or Node; skipped`);
      return;
    }
    if (!spec.apiVersions.includes(o.apiVersion)) {
      problems.push(`${where} (${o.kind}): apiVersion ${JSON.stringify(o.apiVersion)} should be ${spec.apiVersions.join(' or ')}; skipped`);
      return;
    }
    if (typeof o.metadata?.name !== 'string' || !o.metadata.name) {
      problems.push(`${where} (${o.kind}): metadata.name is missing; skipped`);
      return;
    }
    if (spec.kind !== 'Node') {
      o.metadata.namespace ??= 'default';
      if (!isSelected(o.metadata.labels, opts.proxyName)) return; // owned by kube-proxy or another proxy
    } else if (o.metadata.name !== opts.nodeName) {
      return; // only this node's Node object matters
    }
    const ref = objectRef(spec.kind, o);
    if (entries.has(ref)) problems.push(`${where}: ${ref} appears twice; the later copy wins`);
    entries.set(ref, { kind: spec.kind, object: deepFreeze(o), text: JSON.stringify(o) });
  });
  return { entries, problems };
}

/** Events that take the state `prev` to `next` (deletes first, then upserts). */
export function diffObjects(prev: ReadonlyMap<string, Entry>, next: ReadonlyMap<string, Entry>): SourceEvent[] {
  const out: SourceEvent[] = [];
  for (const [ref, e] of prev) if (!next.has(ref)) out.push({ type: 'delete', kind: e.kind, object: e.object } as SourceEvent);
  for (const [ref, e] of next) {
    const before = prev.get(ref);
    if (!before || before.text !== e.text) out.push({ type: 'upsert', kind: e.kind, object: e.object } as SourceEvent);
  }
  return out;
}

export function createObjectsFileSource(opts: ObjectsFileOptions): Source & { reload(): Promise<boolean> } {
  const log = opts.logger.child({ component: 'source', file: opts.file });
  let state = new Map<string, Entry>();
  let sink: SourceEventSink | undefined;
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let loading: Promise<boolean> = Promise.resolve(true);

  /** Reads, parses and applies the file. Returns false (and keeps the previous state) on error. */
  const load = async (): Promise<boolean> => {
    let text: string;
    try {
      text = await readFile(opts.file, 'utf8');
    } catch (err) {
      log.error({ code: (err as NodeJS.ErrnoException).code }, `cannot read objects file ${opts.file}: ${(err as Error).message}; keeping the previous state`);
      return false;
    }
    let parsed: ParsedObjects;
    try {
      parsed = parseObjects(text, opts.file, opts);
    } catch (err) {
      log.error({ code: (err as ProxyError).code }, `${(err as Error).message}; keeping the previous state`);
      return false;
    }
    for (const p of parsed.problems) log.warn(p);
    const events = diffObjects(state, parsed.entries);
    state = parsed.entries;
    for (const e of events) sink?.(e);
    if (events.length) log.info({ events: events.length, objects: state.size }, 'objects file applied');
    return true;
  };
  const reload = () => (loading = loading.then(load));

  return {
    reload,
    async start(s) {
      sink = s;
      const ok = await reload();
      if (!ok) throw new ProxyError('NPP_BAD_OBJECTS_FILE', `cannot start: objects file ${opts.file} is unreadable or invalid (see the error above)`);
      s({ type: 'synced' });
      // Watch the directory, not the file: editors and `mv` replace the file (a new inode).
      const base = path.basename(opts.file);
      watcher = watch(path.dirname(path.resolve(opts.file)), (_event, name) => {
        if (name !== null && name !== base) return;
        clearTimeout(timer);
        timer = setTimeout(() => void reload(), opts.debounceMs ?? 10);
      });
    },
    async stop() {
      clearTimeout(timer);
      watcher?.close();
      await loading;
      sink = undefined;
    },
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
