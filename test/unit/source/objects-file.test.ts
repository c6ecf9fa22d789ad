// The objects-file source's pure parts: parseObjects (file text -> selected objects + problems)
// and diffObjects (two states -> the upsert/delete events a watch would have delivered).
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ProxyError } from '../../../proxy/errors.ts';
import { diffObjects, parseObjects } from '../../../proxy/source/objects-file.ts';
import { endpointSlice, node, service } from '../../support/objects.ts';

const FILE = '/tmp/objects.yaml';
const OPTS = { proxyName: 'nodeport-proxy', nodeName: 'node-a' };

const yamlDocs = (...objs: unknown[]) => objs.map((o) => stringify(o)).join('---\n');
const parse = (text: string) => parseObjects(text, FILE, OPTS);
const refs = (text: string) => [...parse(text).entries.keys()].sort();

const web = service({ name: 'web', nodePort: 30080 });
const webSlice = endpointSlice({ service: 'web', port: 8080, endpoints: [{ ip: '10.0.0.1' }] });
const thisNode = node('node-a', { 'topology.kubernetes.io/zone': 'z1' });

describe('parseObjects', () => {
  interface Case {
    name: string;
    text: string;
    refs: string[];
    problems?: RegExp[];
  }
  const cases: Case[] = [
    { name: 'empty file', text: '', refs: [] },
    { name: 'only comments and separators', text: '# nothing\n---\n---\n', refs: [] },
    {
      name: 'YAML, several documents',
      text: yamlDocs(web, webSlice, thisNode),
      refs: ['EndpointSlice/default/web-abcde', 'Node/node-a', 'Service/default/web'],
    },
    { name: 'JSON, one object', text: JSON.stringify(web), refs: ['Service/default/web'] },
    {
      name: 'JSON, a v1 List',
      text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [web, webSlice, thisNode] }, null, 2),
      refs: ['EndpointSlice/default/web-abcde', 'Node/node-a', 'Service/default/web'],
    },
    { name: 'JSON, a bare array', text: `  ${JSON.stringify([web, webSlice])}`, refs: ['EndpointSlice/default/web-abcde', 'Service/default/web'] },
    { name: 'YAML, a v1 List', text: stringify({ apiVersion: 'v1', kind: 'List', items: [web, webSlice] }), refs: ['EndpointSlice/default/web-abcde', 'Service/default/web'] },
    {
      name: 'unknown kind: reported and skipped',
      text: yamlDocs(web, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } }),
      refs: ['Service/default/web'],
      problems: [/object #2: kind "ConfigMap" is not Service, EndpointSlice or Node; skipped/],
    },
    {
      name: 'wrong apiVersion: reported and skipped',
      text: yamlDocs({ ...webSlice, apiVersion: 'discovery.k8s.io/v1beta1' }, web, { ...web, apiVersion: 'apps/v1', metadata: { ...web.metadata, name: 'x' } }),
      refs: ['Service/default/web'],
      problems: [/object #1 \(EndpointSlice\): apiVersion "discovery\.k8s\.io\/v1beta1" should be discovery\.k8s\.io\/v1; skipped/, /object #3 \(Service\): apiVersion "apps\/v1"/],
    },
    {
      name: 'missing name: reported and skipped',
      text: yamlDocs({ ...web, metadata: { namespace: 'default', labels: web.metadata.labels } }, webSlice),
      refs: ['EndpointSlice/default/web-abcde'],
      problems: [/object #1 \(Service\): metadata\.name is missing; skipped/],
    },
    {
      name: 'a scalar document: reported',
      text: `just a string\n---\n${stringify(web)}`,
      refs: ['Service/default/web'],
      problems: [/object #1: not an object/],
    },
    {
      name: 'selection: only objects labelled with this proxy name',
      text: yamlDocs(
        web,
        service({ name: 'kube-proxy-owned', nodePort: 30081, proxyName: null }),
        service({ name: 'other-proxy', nodePort: 30082, proxyName: 'other' }),
        endpointSlice({ service: 'kube-proxy-owned', port: 80, proxyName: null, endpoints: [] }),
        endpointSlice({ service: 'other-proxy', port: 80, proxyName: 'other', endpoints: [] }),
        webSlice,
      ),
      refs: ['EndpointSlice/default/web-abcde', 'Service/default/web'],
    },
    {
      name: 'selection: headless-labelled objects are not selected',
      text: yamlDocs({ ...webSlice, metadata: { ...webSlice.metadata, labels: { ...webSlice.metadata.labels, 'service.kubernetes.io/headless': '' } } }),
      refs: [],
    },
    {
      name: 'Node: only this node',
      text: yamlDocs(thisNode, node('node-b'), node('node-c')),
      refs: ['Node/node-a'],
    },
    {
      name: 'namespace defaults to "default"',
      text: yamlDocs({ ...web, metadata: { name: 'web', labels: web.metadata.labels } }, { ...web, metadata: { ...web.metadata, name: 'api', namespace: 'shop' } }),
      refs: ['Service/default/web', 'Service/shop/api'],
    },
    {
      name: 'the same object twice: reported, the later copy wins',
      text: yamlDocs(web, web),
      refs: ['Service/default/web'],
      problems: [/object #2: Service\/default\/web appears twice; the later copy wins/],
    },
  ];

  it.each(cases)('$name', ({ text, refs: want, problems = [] }) => {
    const got = parse(text);
    expect([...got.entries.keys()].sort()).toEqual(want);
    expect(got.problems).toHaveLength(problems.length);
    problems.forEach((re, i) => {
      expect(got.problems[i]).toMatch(re);
      expect(got.problems[i]!.startsWith(`${FILE}: `)).toBe(true);
    });
  });

  it('keeps the objects as they are in the file, kind set, deep-frozen', () => {
    const got = parse(yamlDocs(web, webSlice, thisNode));
    const svc = got.entries.get('Service/default/web')!;
    expect(svc.kind).toBe('Service');
    expect(svc.object).toEqual(web);
    expect(got.entries.get('EndpointSlice/default/web-abcde')).toMatchObject({ kind: 'EndpointSlice', object: webSlice });
    expect(got.entries.get('Node/node-a')).toMatchObject({ kind: 'Node', object: thisNode });
    expect(Object.isFrozen(svc.object)).toBe(true);
    expect(Object.isFrozen(svc.object.spec.ports[0])).toBe(true);
  });

  it('the later duplicate is the one kept', () => {
    const v2 = service({ name: 'web', nodePort: 30099 });
    const got = parse(yamlDocs(web, v2));
    expect(got.entries.get('Service/default/web')!.object.spec.ports[0].nodePort).toBe(30099);
  });

  describe('a file that cannot be read as a whole: NPP_BAD_OBJECTS_FILE', () => {
    it.each([
      { name: 'bad YAML (line 3)', text: 'apiVersion: v1\nkind: Service\nmetadata: {name: web\n  labels: [\n', line: /line \d+/ },
      { name: 'bad YAML indentation (line 4)', text: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n bad: indent\n', line: /line \d+/ },
      { name: 'bad YAML in the second document', text: `${stringify(web)}---\nkind: [unclosed\n`, line: /line \d+/ },
      { name: 'bad JSON', text: '{"apiVersion": "v1", "kind": ', line: /invalid JSON/ },
    ])('$name', ({ text, line }) => {
      let err: unknown;
      try {
        parse(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ProxyError);
      expect((err as ProxyError).code).toBe('NPP_BAD_OBJECTS_FILE');
      expect((err as Error).message.startsWith(`${FILE}: `)).toBe(true);
      expect((err as Error).message).toMatch(line);
    });

    it('the YAML line number points at the error', () => {
      const text = `${stringify(web)}---\napiVersion: v1\nkind: [unclosed\n`;
      const errorLine = text.split('\n').findIndex((l) => l.startsWith('kind: [')) + 1;
      try {
        parse(text);
        expect.unreachable();
      } catch (err) {
        const m = /line (\d+)/.exec((err as Error).message);
        expect(m).not.toBeNull();
        expect(Number(m![1])).toBeGreaterThanOrEqual(errorLine);
        expect(Number(m![1])).toBeLessThanOrEqual(errorLine + 1);
      }
    });
  });
});

describe('diffObjects', () => {
  const webV2 = service({ name: 'web', nodePort: 30080, externalTrafficPolicy: 'Local' });
  const api = service({ name: 'api', nodePort: 30090 });
  const apiSlice = endpointSlice({ service: 'api', port: 9000, endpoints: [{ ip: '10.0.1.1' }] });

  interface Case {
    name: string;
    prev: unknown[];
    next: unknown[];
    events: { type: string; kind: string; name: string }[];
  }
  const cases: Case[] = [
    { name: 'nothing to nothing', prev: [], next: [], events: [] },
    { name: 'unchanged', prev: [web, webSlice, thisNode], next: [web, webSlice, thisNode], events: [] },
    {
      name: 'unchanged, reordered in the file',
      prev: [web, webSlice, thisNode],
      next: [thisNode, webSlice, web],
      events: [],
    },
    {
      name: 'first load: all added',
      prev: [],
      next: [web, webSlice, thisNode],
      events: [
        { type: 'upsert', kind: 'Service', name: 'web' },
        { type: 'upsert', kind: 'EndpointSlice', name: 'web-abcde' },
        { type: 'upsert', kind: 'Node', name: 'node-a' },
      ],
    },
    { name: 'one added', prev: [web], next: [web, api], events: [{ type: 'upsert', kind: 'Service', name: 'api' }] },
    { name: 'one updated', prev: [web, api], next: [webV2, api], events: [{ type: 'upsert', kind: 'Service', name: 'web' }] },
    { name: 'one deleted', prev: [web, api, apiSlice], next: [web, api], events: [{ type: 'delete', kind: 'EndpointSlice', name: 'api-abcde' }] },
    {
      name: 'deletes first, then upserts',
      prev: [web, webSlice],
      next: [webV2, api],
      events: [
        { type: 'delete', kind: 'EndpointSlice', name: 'web-abcde' },
        { type: 'upsert', kind: 'Service', name: 'web' },
        { type: 'upsert', kind: 'Service', name: 'api' },
      ],
    },
    {
      name: 'an object that loses the proxy label is deleted',
      prev: [web, api],
      next: [web, service({ name: 'api', nodePort: 30090, proxyName: null })],
      events: [{ type: 'delete', kind: 'Service', name: 'api' }],
    },
    { name: 'everything removed', prev: [web, thisNode], next: [], events: [{ type: 'delete', kind: 'Service', name: 'web' }, { type: 'delete', kind: 'Node', name: 'node-a' }] },
  ];

  it.each(cases)('$name', ({ prev, next, events }) => {
    const p = parse(yamlDocs(...prev)).entries;
    const n = parse(yamlDocs(...next)).entries;
    const got = diffObjects(p, n);
    expect(got.map((e) => (e.type === 'synced' ? e : { type: e.type, kind: e.kind, name: e.object.metadata?.name }))).toEqual(events);
    // Deletes carry the last known object; upserts the new one.
    for (const e of got) {
      if (e.type === 'synced') continue;
      const ref = `${e.kind}/${e.kind === 'Node' ? '' : 'default/'}${e.object.metadata!.name}`;
      expect(e.object).toBe((e.type === 'delete' ? p : n).get(ref)!.object);
    }
  });
});
