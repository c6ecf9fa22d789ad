// A minimal Kubernetes REST client for the harness (bearer token + the apiserver's self-signed
// CA). Small on purpose: the harness needs a handful of verbs and full control over content
// types, delete options and preconditions, which is exactly what the kubelet stand-in exercises.
import { Agent, request } from 'node:https';

export class KubeApiError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(method: string, path: string, status: number, body: string) {
    super(`${method} ${path} -> ${status}: ${body.slice(0, 400)}`);
    this.status = status;
    this.body = body;
  }
}

export interface KubeApiOptions {
  /** e.g. https://127.0.0.1:6443 */
  server: string;
  token: string;
  /** PEM of the CA that signed the serving certificate. */
  ca: string;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
}

export type Json = Record<string, any>;

export class KubeApi {
  readonly server: string;
  private readonly token: string;
  private readonly agent: Agent;
  private readonly timeoutMs: number;

  constructor(opts: KubeApiOptions) {
    this.server = opts.server.replace(/\/$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.agent = new Agent({ ca: opts.ca, keepAlive: true, maxSockets: 16 });
  }

  /** Sends one request; resolves with the parsed JSON body, throws KubeApiError on status >= 400. */
  request<T = Json>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const url = new URL(this.server + path);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}),
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            if ((res.statusCode ?? 0) >= 400) reject(new KubeApiError(method, path, res.statusCode ?? 0, text));
            else if (String(res.headers['content-type']).includes('json')) resolve((text ? JSON.parse(text) : {}) as T);
            else resolve(text as T);
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out after ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  get<T = Json>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  post<T = Json>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }
  put<T = Json>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }
  /** JSON merge patch (RFC 7386). */
  mergePatch<T = Json>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body, 'application/merge-patch+json');
  }
  /** Strategic merge patch. */
  strategicPatch<T = Json>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body, 'application/strategic-merge-patch+json');
  }
  delete<T = Json>(path: string, options?: Json): Promise<T> {
    return this.request<T>('DELETE', path, options && { kind: 'DeleteOptions', apiVersion: 'v1', ...options });
  }

  /** GET that returns undefined on 404. */
  async getOptional<T = Json>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** DELETE that ignores 404. */
  async deleteIfExists(path: string, options?: Json): Promise<void> {
    try {
      await this.delete(path, options);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }

  close(): void {
    this.agent.destroy();
  }
}
