// No Docker engine runs here, so the Dockerfile is checked for what can be checked without one:
// the base image's Node major matches the pinned node, every COPY source exists and is not
// excluded by .dockerignore, the image runs as a numeric non-root user, only production
// dependencies are installed, and the entry point starts with the production dependency set alone.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!buf && (line === '' || line.startsWith('#'))) return;
    if (!buf) start = i + 1;
    if (line.startsWith('#')) return; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      buf += `${line.slice(0, -1)} `;
      return;
    }
    buf += line;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(buf);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot parse "${buf}"`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buf = '';
  });
  return out;
}

const instructions = parseDockerfile(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
const dockerignore = readFileSync(path.join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** The sources of the COPY instructions that copy from the build context (not from a stage). */
function contextCopies(): Array<{ src: string; line: number }> {
  return instructions
    .filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))
    .flatMap((i) => {
      const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      return parts.slice(0, -1).map((src) => ({ src, line: i.line }));
    });
}

function stages(): Instruction[][] {
  const result: Instruction[][] = [];
  for (const i of instructions) {
    if (i.op === 'FROM') result.push([]);
    result.at(-1)?.push(i);
  }
  return result;
}

describe('Dockerfile', () => {
  it('uses a base image of the same Node major as the pinned node devDependency', () => {
    const args = new Map<string, string>();
    for (const i of instructions.filter((x) => x.op === 'ARG')) {
      const [k, v] = i.args.split('=');
      if (v !== undefined) args.set(k!, v);
    }
    const froms = instructions.filter((i) => i.op === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2); // multi-stage
    const pinnedMajor = /(\d+)/.exec(pkg.devDependencies.node!)![1];
    for (const from of froms) {
      const image = from.args.split(/\s+/)[0]!.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? `<unset ${name}>`);
      expect(image, `FROM at line ${from.line}`).toMatch(new RegExp(`^node:${pinnedMajor}[-.]`));
    }
  });

  it('copies only files that exist and that .dockerignore does not exclude', () => {
    const copies = contextCopies();
    expect(copies.map((c) => c.src).sort()).toEqual(['package-lock.json', 'package.json', 'package.json', 'proxy'].sort());
    for (const { src, line } of copies) {
      expect(existsSync(path.join(root, src)), `COPY ${src} (line ${line}) does not exist`).toBe(true);
      const top = src.split('/')[0]!;
      expect(dockerignore, `.dockerignore excludes ${src} (COPY at line ${line})`).not.toContain(top);
      expect(dockerignore).not.toContain(`${top}/`);
    }
  });

  it('installs production dependencies only, from the lockfile', () => {
    const runs = instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    const install = runs.find((r) => r.includes('npm '));
    expect(install).toMatch(/npm ci\b/);
    expect(install).toMatch(/--omit=dev\b/);
    expect(runs.join('\n')).not.toMatch(/npm (i|install)\b/);
  });

  it('runs the entry point directly, as a numeric non-root user, in the final stage', () => {
    const final = stages().at(-1)!;
    const user = final.filter((i) => i.op === 'USER').at(-1);
    expect(user, 'final stage has no USER').toBeDefined();
    const [uid] = user!.args.split(':');
    expect(uid).toMatch(/^\d+$/); // runAsNonRoot can only verify a numeric user
    expect(Number(uid)).toBeGreaterThan(0);
    const daemonset = readFileSync(path.join(root, 'deploy/daemonset.yaml'), 'utf8');
    expect(daemonset).toContain(`runAsUser: ${uid}`);

    const entry = final.find((i) => i.op === 'ENTRYPOINT' || i.op === 'CMD');
    const argv = JSON.parse(entry!.args) as string[];
    expect(argv[0]).toBe('node');
    // Node flags may stand between node and the entry point (bench/ runs the proxy with them).
    const flags = argv.slice(1, -1);
    for (const f of flags) expect(f).toMatch(/^--[a-z-]+(=\S+)?$/);
    expect(argv.at(-1)).toBe('proxy/cli/bin.ts');
    expect(existsSync(path.join(root, argv.at(-1)!))).toBe(true);
  });

  it('passes Node flags that this Node accepts (the entry point starts with them)', async () => {
    const entry = stages().at(-1)!.find((i) => i.op === 'ENTRYPOINT')!;
    const argv = JSON.parse(entry.args) as string[];
    const { stdout } = await promisify(execFile)(process.execPath, [...argv.slice(1, -1), path.join(root, argv.at(-1)!), '--version'], {
      timeout: 20_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(stdout.trim()).toBe(`nodeport-proxy ${pkg.version}`);
  }, 30_000);

  it('needs only production dependencies: every package the proxy imports is in "dependencies"', () => {
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const missing: string[] = [];
    const seen = new Set<string>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(p);
        else if (entry.name.endsWith('.ts')) {
          const text = readFileSync(p, 'utf8');
          // Value imports only: `import type` is erased and needs nothing at run time.
          for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'";]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/gm)) {
            const spec = m[1] ?? m[2]!;
            if (spec.startsWith('.') || builtins.has(spec) || spec.startsWith('node:')) continue;
            const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
            seen.add(name);
            if (!(name in pkg.dependencies)) missing.push(`${path.relative(root, p)} imports ${spec}`);
          }
        }
      }
    };
    walk(path.join(root, 'proxy'));
    // The scan must see the packages the proxy is known to use, or it proves nothing.
    expect([...seen]).toEqual(expect.arrayContaining(['@kubernetes/client-node', 'prom-client', 'lru-cache']));
    expect(missing).toEqual([]);
  });

  it('starts with the production dependency set alone (bin.ts --version)', async () => {
    // Rebuild what the image holds: package.json, proxy/ (copied, so that resolution cannot climb
    // back into the repository's node_modules) and only the non-dev packages of the lockfile.
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const dir = mkdtempSync(path.join(os.tmpdir(), 'npp-image-'));
    try {
      cpSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
      cpSync(path.join(root, 'proxy'), path.join(dir, 'proxy'), { recursive: true });
      for (const [key, info] of Object.entries(lock.packages)) {
        // Top-level packages only: nested node_modules travel inside their parent.
        if (!key || info.dev || key.split('node_modules/').length !== 2) continue;
        const target = path.join(dir, key);
        mkdirSync(path.dirname(target), { recursive: true });
        symlinkSync(path.join(root, key), target, 'dir');
      }
      expect(existsSync(path.join(dir, 'node_modules/@kubernetes/client-node'))).toBe(true);
      expect(existsSync(path.join(dir, 'node_modules/vitest'))).toBe(false);
      const { stdout } = await promisify(execFile)(process.execPath, ['proxy/cli/bin.ts', '--version'], {
        cwd: dir,
        timeout: 20_000,
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      expect(stdout.trim()).toBe(`nodeport-proxy ${pkg.version}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
