/**
 * Transcode and package at once: every rendition goes from ffmpeg through a FIFO straight into its own
 * shaka-packager run, so segments are cut while the ladder is still encoding. Done one after the other, a
 * 5-minute track waited for the whole ladder and then for shaka (and shaka's reads of ~60 MB of
 * intermediates): the packaging tail disappears and no intermediate file is written.
 *
 * The MP4s are fragmented with the edit list kept (ladder.ts FRAGMENTED_MP4), so the packaged output is the
 * same as from files: same segment boundaries, same priming trim, same playlist durations.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/errors';
import { ladderFor, plannedRenditions, transcodeLadder, type TranscodeOptions, type TranscodeResult } from './ladder';
import { SHAKA_DRAIN_TIMEOUT_MS, checkPackageInput, finishPackage, packageRendition, type PackageOptions, type PackageResult } from './package';
import { run, tail } from './process';

export interface TranscodeAndPackageResult extends TranscodeResult {
  package: PackageResult;
}

export async function transcodeAndPackage(input: string, outDir: string, opts: TranscodeOptions & PackageOptions): Promise<TranscodeAndPackageResult> {
  const specs = opts.renditions ?? ladderFor(opts.probe);
  const pipesDir = path.join(opts.tmpDir ?? os.tmpdir(), `pipes-${randomUUID()}`);
  const planned = plannedRenditions(specs, opts.probe, pipesDir);
  const seg = checkPackageInput(planned, opts);
  await mkdir(pipesDir, { recursive: true });
  await mkdir(outDir, { recursive: true });

  // Any failure stops everything: a shaka whose writer died would wait on its FIFO forever, and an ffmpeg
  // whose reader died would block (or die of SIGPIPE) on its next write.
  const all = new AbortController();
  const onOuterAbort = () => all.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (opts.signal?.aborted) all.abort(opts.signal.reason);
  const stopAllOnFailure = <T>(p: Promise<T>) =>
    p.catch((e: unknown) => {
      all.abort(e);
      throw e;
    });
  let watchdog: NodeJS.Timeout | undefined;
  try {
    all.signal.throwIfAborted();
    const mk = await run('mkfifo', planned.map((r) => r.file));
    if (mk.code !== 0) throw new AppError('internal_error', `Could not create the packaging pipes: ${tail(mk.stderr, 2)}`);
    const shakas = planned.map((r) => stopAllOnFailure(packageRendition(r, outDir, seg, { ...opts, signal: all.signal })));
    const ladder = stopAllOnFailure(transcodeLadder(input, pipesDir, { ...opts, renditions: specs, fragmented: true, signal: all.signal }));
    // Once ffmpeg has written everything, shaka only drains its pipe: a run still going a minute later is stuck.
    ladder.then(() => {
      watchdog = setTimeout(() => all.abort(new AppError('internal_error', 'Packaging stalled: shaka-packager did not finish after the encoders did.')), SHAKA_DRAIN_TIMEOUT_MS);
    }, () => undefined);
    const settled = await Promise.allSettled([ladder, ...shakas]);
    const failed = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw opts.signal?.aborted ? opts.signal.reason : all.signal.reason ?? failed.reason;
    const tr = (settled[0] as PromiseFulfilledResult<TranscodeResult>).value;
    opts.onProgress?.({ stage: 'package', percent: 80 });
    return { ...tr, package: await finishPackage(tr.renditions, outDir, opts) };
  } finally {
    clearTimeout(watchdog);
    opts.signal?.removeEventListener('abort', onOuterAbort);
    await rm(pipesDir, { recursive: true, force: true });
  }
}
