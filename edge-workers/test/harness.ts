/**
 * Test harness: a real origin over a real FsObjectStore filled with "packaged" fixture files
 * (the packager's layout and naming), and edges in front of it, all on port 0.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig, type Config } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry } from '@platform/http';
import { FsObjectStore } from '@platform/storage';
import { createOriginServer, type OriginServer } from '@platform/origin';
import { createEdgeServer, type EdgeDeps, type EdgeServer } from '@platform/edge-workers';
import type { SigningKey } from '@platform/grants';

export const SEGMENTS = 6;
export const RENDITIONS = [
  { dir: 'aac_128', codecs: 'mp4a.40.2', bandwidth: 140_000, ext: 'm4s', init: 'init.mp4' },
  { dir: 'opus_96', codecs: 'opus', bandwidth: 105_000, ext: 'm4s', init: 'init.mp4' },
  { dir: 'mp3_128', codecs: 'mp4a.40.34', bandwidth: 140_000, ext: 'ts', init: null },
] as const;

export function masterPlaylist(): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const r of RENDITIONS) {
    lines.push(`#EXT-X-MEDIA:TYPE=AUDIO,URI="${r.dir}/playlist.m3u8",GROUP-ID="${r.dir}",NAME="${r.dir}",AUTOSELECT=YES,CHANNELS="2"`);
    lines.push(`#EXT-X-STREAM-INF:BANDWIDTH=${r.bandwidth},CODECS="${r.codecs}",AUDIO="${r.dir}"`, `${r.dir}/playlist.m3u8`);
  }
  return lines.join('\n') + '\n';
}

export function mediaPlaylist(r: (typeof RENDITIONS)[number]): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-TARGETDURATION:4', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-MEDIA-SEQUENCE:1'];
  if (r.init) lines.push(`#EXT-X-MAP:URI="${r.init}"`);
  for (let i = 1; i <= SEGMENTS; i++) lines.push('#EXTINF:4.000,', `${i}.${r.ext}`);
  lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}

export function dashManifest(): string {
  const sets = RENDITIONS.filter((r) => r.init)
    .map((r) => `<AdaptationSet contentType="audio" mimeType="audio/mp4"><Representation id="${r.dir}" bandwidth="${r.bandwidth}" codecs="${r.codecs}" audioSamplingRate="48000"><SegmentTemplate timescale="1000" duration="4000" startNumber="1" initialization="${r.dir}/${r.init}" media="${r.dir}/$Number$.m4s"/></Representation></AdaptationSet>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" profiles="urn:mpeg:dash:profile:isoff-live:2011" mediaPresentationDuration="PT${SEGMENTS * 4}S" minBufferTime="PT2S"><Period id="0">${sets}</Period></MPD>\n`;
}

/** Put one object through the store's own write path (atomic, etag computed by the store). */
export async function putObject(objects: FsObjectStore, key: string, body: Buffer): Promise<void> {
  await objects.put(key, body);
}

/** Write one packaged track version; returns the keys written and their bytes. */
export async function writePackagedTrack(objects: FsObjectStore, trackId: string, version: number, segmentBytes = 20_000): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const base = `tracks/${trackId}/v${version}`;
  files.set(`${base}/master.m3u8`, Buffer.from(masterPlaylist()));
  files.set(`${base}/manifest.mpd`, Buffer.from(dashManifest()));
  for (const r of RENDITIONS) {
    files.set(`${base}/${r.dir}/playlist.m3u8`, Buffer.from(mediaPlaylist(r)));
    if (r.init) files.set(`${base}/${r.dir}/${r.init}`, randomBytes(800));
    for (let i = 1; i <= SEGMENTS; i++) files.set(`${base}/${r.dir}/${i}.${r.ext}`, randomBytes(segmentBytes + i));
  }
  for (const [key, body] of files) await putObject(objects, key, body);
  return files;
}

export const silentLogger = createLogger({ name: 'test', level: 'silent' });

export interface Stack {
  dir: string;
  config: Config;
  objects: FsObjectStore;
  keys: SigningKey[];
  secret: string;
  origin: OriginServer;
  originUrl: string;
  startOrigin(opts?: { manifestCacheControl?: string }): Promise<void>;
  stopOrigin(): Promise<void>;
  edges: EdgeServer[];
  startEdge(extra?: Partial<EdgeDeps>): Promise<{ edge: EdgeServer; url: string }>;
  close(): Promise<void>;
}

export function urlOf(server: http.Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Origin (port 0) over a fresh FsObjectStore; edges are added with startEdge. */
export async function startStack(): Promise<Stack> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'edge-test-'));
  const keys: SigningKey[] = [{ kid: 'k2', secret: randomBytes(24).toString('base64url') }, { kid: 'k1', secret: randomBytes(24).toString('base64url') }];
  const secret = randomBytes(24).toString('base64url');
  const config = loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' });
  const objects = new FsObjectStore(path.join(dir, 'objects'));
  let originPort = 0;
  const stack: Stack = {
    dir, config, objects, keys, secret,
    origin: undefined as unknown as OriginServer,
    originUrl: '',
    edges: [],
    async startOrigin(opts = {}) {
      // A fresh registry per start: the request counter restarts with the process, as in production.
      stack.origin = createOriginServer({ config, logger: silentLogger, metrics: createMetricsRegistry('origin'), objects, edgeOriginSecret: secret, ...opts });
      const server = await stack.origin.listen(originPort, '127.0.0.1');
      originPort = (server.address() as AddressInfo).port;
      stack.originUrl = urlOf(server);
    },
    async stopOrigin() {
      stack.origin.app.server.closeAllConnections();
      await stack.origin.close();
    },
    async startEdge(extra = {}) {
      const edge = createEdgeServer({ config, logger: silentLogger, metrics: createMetricsRegistry('edge'), signingKeys: keys, edgeOriginSecret: secret, originUrl: stack.originUrl, ...extra });
      const server = await edge.listen(0, '127.0.0.1');
      stack.edges.push(edge);
      return { edge, url: urlOf(server) };
    },
    async close() {
      for (const e of stack.edges) await e.close();
      await stack.stopOrigin().catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  await stack.startOrigin();
  return stack;
}

export const newTrackId = () => randomUUID();

/** Raw HTTP GET: the path goes on the wire exactly as given (no URL normalization of `..`). */
export function rawGet(base: string, rawPath: string, headers: Record<string, string> = {}, method = 'GET', agent?: http.Agent): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, path: rawPath, method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Read one sample of a Prometheus text exposition. */
export async function metricValue(base: string, name: string, labels = ''): Promise<number> {
  const text = (await rawGet(base, '/metrics')).body.toString();
  const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && (!labels || l.includes(labels)));
  if (!line) return 0;
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

export interface Parsed {
  /** The head as sent, status line to the last header line. */
  head: string;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Parse `count` HTTP/1.1 responses (Content-Length framed) off a byte stream, in order. */
export function parseResponses(data: Buffer, methods: string[]): Parsed[] {
  const out: Parsed[] = [];
  let at = 0;
  for (const method of methods) {
    const end = data.indexOf('\r\n\r\n', at);
    assert.ok(end > 0, `response ${out.length + 1} has a complete head`);
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    const length = method === 'HEAD' || status === 304 ? 0 : Number(headers['content-length']);
    out.push({ head: lines.join('\r\n'), status, headers, body: data.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  assert.equal(at, data.length, 'no bytes after the last response');
  return out;
}

/**
 * Send raw requests on one connection (all at once: pipelined), read until `expectBytes` arrived, the
 * server closed, or (endAfterMs) the connection stayed quiet that long after the last byte.
 */
export function exchange(url: string, raw: string, expectBytes: number, opts: { pauseMs?: number; endAfterMs?: number } = {}): Promise<Buffer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const socket = net.connect(Number(u.port), u.hostname, () => {
      socket.write(raw);
      if (opts.pauseMs) {
        // A slow client: nothing read for a while, so the kernel's socket buffers fill and sendfile stops short.
        socket.pause();
        setTimeout(() => socket.resume(), opts.pauseMs);
      }
    });
    let quiet: NodeJS.Timeout | undefined;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (opts.endAfterMs !== undefined) {
        clearTimeout(quiet);
        quiet = setTimeout(() => socket.end(), opts.endAfterMs);
      }
      if (got >= expectBytes) {
        socket.end();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

export const request = (path: string, extra = '', method = 'GET') => `${method} ${path} HTTP/1.1\r\nHost: edge\r\n${extra}\r\n`;
/** The last request of a pipeline asks the edge to close after it: the stream's end marks the end of the responses. */
export const closing = (raws: string[]) => raws.map((r, i) => (i === raws.length - 1 ? r.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n') : r)).join('');
