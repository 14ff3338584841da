/** Child processes: spawn with abort support, collect output, and locate the tool binaries. */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  signal?: AbortSignal;
  /** Called with each complete stdout line (ffmpeg -progress pipe:1). */
  onStdoutLine?: (line: string) => void;
  /** Keep at most this many bytes of stderr (the tail), so a chatty tool cannot fill memory. */
  maxStderr?: number;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(opts.signal.reason);
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const maxErr = opts.maxStderr ?? 256 * 1024;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (opts.onStdoutLine) {
        partial += chunk;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) opts.onStdoutLine(l);
      } else if (stdout.length < 64 * 1024 * 1024) stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > maxErr * 2) stderr = stderr.slice(-maxErr);
    });
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.on('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      if (partial && opts.onStdoutLine) opts.onStdoutLine(partial);
      resolve({ code, signal, stdout, stderr: stderr.length > maxErr ? stderr.slice(-maxErr) : stderr });
    });
  });
}

/** Binary locations; callers may override any of them through MediaOptions.tools. */
export interface ToolPaths {
  /** Default: Debian's ffmpeg on PATH. */
  ffmpeg?: string;
  ffprobe?: string;
  /** Default: the shaka-packager binary inside the npm package (never its wrapper, which exits 0 on failure). */
  packager?: string;
}

export function toolPath(tools: ToolPaths | undefined, name: keyof ToolPaths): string {
  const given = tools?.[name];
  if (given) return given;
  if (name !== 'packager') return name;
  const require = createRequire(import.meta.url);
  const entry = require.resolve('shaka-packager');
  const osName = process.platform === 'darwin' ? 'osx' : process.platform === 'win32' ? 'win' : 'linux';
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  return path.join(path.dirname(entry), 'bin', `packager-${osName}-${arch}${osName === 'win' ? '.exe' : ''}`);
}

/** Last lines of a tool's stderr, for logs and error details. */
export const tail = (text: string, lines = 8): string => text.trim().split('\n').slice(-lines).join('\n');
