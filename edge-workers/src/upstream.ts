/**
 * Fetching whole objects from the origin or a parent edge over keep-alive connections, with a hard
 * timeout (a slow origin must not hold players indefinitely) and a size cap.
 */
import http from 'node:http';
import https from 'node:https';

export interface UpstreamResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'network' | 'too_large' | 'status',
    readonly status?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export class Upstream {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 10_000 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 10_000 });

  constructor(
    private readonly timeoutMs: number,
    private readonly maxBytes: number,
  ) {}

  get(baseUrl: URL, path: string, headers: Record<string, string>): Promise<UpstreamResponse> {
    const isHttps = baseUrl.protocol === 'https:';
    const mod = isHttps ? https : http;
    const prefix = baseUrl.pathname.replace(/\/$/, '');
    return new Promise((resolve, reject) => {
      let isDone = false;
      const finish = (err: Error | null, value?: UpstreamResponse) => {
        if (isDone) return;
        isDone = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value!);
      };
      const req = mod.request(
        {
          protocol: baseUrl.protocol,
          hostname: baseUrl.hostname,
          port: baseUrl.port || (isHttps ? 443 : 80),
          path: `${prefix}${path}`,
          method: 'GET',
          headers,
          agent: isHttps ? this.httpsAgent : this.httpAgent,
        },
        (res) => {
          const declared = Number(res.headers['content-length'] ?? 0);
          if (declared > this.maxBytes) {
            res.destroy();
            finish(new UpstreamError(`object of ${declared} bytes exceeds the edge's ${this.maxBytes}-byte cap`, 'too_large'));
            return;
          }
          const chunks: Buffer[] = [];
          let total = 0;
          res.on('data', (c: Buffer) => {
            total += c.length;
            if (total > this.maxBytes) {
              res.destroy();
              finish(new UpstreamError(`object exceeds the edge's ${this.maxBytes}-byte cap`, 'too_large'));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            // node's parser already refuses a body cut short of its Content-Length; checked here too,
            // because a short body cached would be served to every listener until it expires.
            if (res.headers['content-length'] !== undefined && total !== declared) {
              finish(new UpstreamError(`upstream sent ${total} of ${declared} bytes`, 'network'));
              return;
            }
            finish(null, { status: res.statusCode ?? 502, headers: res.headers, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total) });
          });
          res.on('error', (e) => finish(new UpstreamError(e.message, 'network')));
          res.on('aborted', () => finish(new UpstreamError('upstream aborted the response', 'network')));
        },
      );
      const timer = setTimeout(() => {
        finish(new UpstreamError(`no complete answer within ${this.timeoutMs} ms`, 'timeout'));
        req.destroy();
      }, this.timeoutMs);
      req.on('error', (e) => finish(new UpstreamError(e.message, 'network')));
      req.end();
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
