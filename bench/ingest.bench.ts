/**
 * Ingest throughput: a 5-minute 44.1 kHz/16-bit stereo source (pink noise plus tones) through the
 * platform's whole ingest (download, probe, one-decode transcode of the 9-rendition ladder with
 * loudness and peaks, shaka packaging, storage, catalog publication), beside the fastest plain-ffmpeg
 * arrangement of the same nine encodes on the same cores, found and run in this benchmark:
 *   A. one ffmpeg, asplit into all nine (one core)
 *   B. two ffmpeg processes in parallel, the ladder split by codec family (AAC x3 + MP3 128 + FLAC | Opus x3 + MP3 320)
 *   B'. two ffmpeg processes in parallel, the split of least max cost over all 2^9 splits (same cost model as the platform)
 *   C. nine ffmpeg processes, two at a time
 * The platform runs with the production defaults (4 s segments, threads = cores); its time is split into stages
 * (wall and CPU each) from the worker's stage hook, so a regression shows where it went.
 * Wall time and CPU time (this process plus its finished children, from /proc/self/stat) per run.
 * Storage: the filesystem store, bus/cache in-process, PostgreSQL from IT_DATABASE_URL or embedded.
 * BENCH_INGEST_SECONDS overrides the source length (default 300); BENCH_INGEST_STREAM=0 packages after transcoding, from files;
 * BENCH_INGEST_ONLY=platform runs only the one-track platform run (no plain arrangements, no ratio: for quick
 * before/after checks of the worker, compared by CPU).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPackagerWorker, type PackagerWorker } from '@platform/packager';
import { DEFAULT_SEGMENT_DURATION_S } from '@platform/media';
import { startHarness } from '../packager/test/harness';

const SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 300);
/** BENCH_INGEST_STREAM=0 measures the worker packaging from files after the ladder (streamPackaging: false). */
const STREAM = process.env.BENCH_INGEST_STREAM !== '0';
const ONLY_PLATFORM = process.env.BENCH_INGEST_ONLY === 'platform';
const CLK_TCK = 100;

function cpuSeconds(): number {
  // utime stime cutime cstime: fields 14-17 of /proc/self/stat (after the parenthesised name).
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
}

/** This process alone (no children): the worker's own share of the CPU (Node: storage, bus, pipes, parsing). */
function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * The ffmpeg children of this process, sampled from /proc every 200 ms while a platform run lasts: each
 * one's CPU (its last sample, so up to 200 ms short) and when it was last seen. Shows how evenly the
 * ladder was split between the two processes (the run waits for the busier one). Only this process's
 * children are read (/proc/self/task/{pid}/children: Node spawns from its main thread), and the sampling's
 * own CPU is returned so the run's figures can leave it out (scanning all of /proc every 100 ms cost 0.37 s).
 */
function watchFfmpegChildren(): { stop(): { overheadCpu: number; ffmpegs: { cpu: number; endS: number; what: string }[] } } {
  const t0 = performance.now();
  const seen = new Map<number, { cpu: number; endS: number; what: string }>();
  let overheadCpu = 0;
  const sample = () => {
    const c0 = selfCpuSeconds();
    let pids: string[] = [];
    try {
      pids = readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      pids = [];
    }
    for (const name of pids) {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (comm !== 'ffmpeg') continue;
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        let what = seen.get(Number(name))?.what;
        if (what === undefined) {
          // Its encodes, e.g. "aac256k opus64k ... ebur128": which branches the split gave it.
          const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
          const enc = args.flatMap((a, i) => (a === '-c:a' ? [`${args[i + 1].replace(/^lib/, '').replace('mp3lame', 'mp3')}${args[i + 3] && args[i + 2] === '-b:a' ? args[i + 3] : ''}`] : []));
          const graph = args[args.indexOf('-filter_complex') + 1] ?? '';
          what = [...enc, ...(graph.includes('ebur128') ? ['ebur128'] : []), ...(graph.includes('astats') ? ['peaks'] : [])].join(' ');
        }
        seen.set(Number(name), { cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK, endS: (performance.now() - t0) / 1000, what });
      } catch {
        // gone between the list and the read
      }
    }
    overheadCpu += selfCpuSeconds() - c0;
  };
  const timer = setInterval(sample, 200);
  return {
    stop() {
      clearInterval(timer);
      return { overheadCpu, ffmpegs: [...seen.values()] };
    },
  };
}

async function measure<T>(fn: () => Promise<T>): Promise<{ wall: number; cpu: number; selfCpu: number; value: T }> {
  const c0 = cpuSeconds();
  const s0 = selfCpuSeconds();
  const t0 = performance.now();
  const value = await fn();
  return { wall: (performance.now() - t0) / 1000, cpu: cpuSeconds() - c0, selfCpu: selfCpuSeconds() - s0, value };
}

function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('ffmpeg', ['-nostdin', '-hide_banner', '-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg failed: ${err}`))));
  });
}

/**
 * The nine encodes as plain ffmpeg output options (same encoders and settings as the platform), with the
 * platform's cost estimate (libs/media ladder.ts branchCost, CPU s per 5 min; here each Opus encode pays its
 * own resampler, which plain ffmpeg does not share) used to balance splits.
 */
const ENCODES: { name: string; filter: string; opts: string[]; cost: number }[] = [
  ...[64, 128, 256].map((k) => ({ name: `aac${k}.mp4`, filter: 'anull', opts: ['-c:a', 'aac', '-b:a', `${k}k`], cost: k <= 128 ? 0.85 + 0.0266 * k : 3.5 + 0.00586 * k })),
  ...[64, 96, 160].map((k) => ({ name: `opus${k}.mp4`, filter: 'aresample=48000:resampler=soxr', opts: ['-c:a', 'libopus', '-b:a', `${k}k`], cost: 0.25 + 1.7 + 0.0051 * k })),
  ...[128, 320].map((k) => ({ name: `mp3_${k}.ts`, filter: 'anull', opts: ['-c:a', 'libmp3lame', '-b:a', `${k}k`, '-f', 'mpegts'], cost: 1.63 + 0.0018 * k })),
  { name: 'flac.mp4', filter: 'anull', opts: ['-c:a', 'flac', '-strict', 'experimental'], cost: 0.45 },
];

/** The 2-way split with the least max estimated cost (2^9 candidates). */
function bestSplit(encodes: typeof ENCODES): [typeof ENCODES, typeof ENCODES] {
  let best = { max: Infinity, mask: 0 };
  for (let mask = 1; mask < 1 << (encodes.length - 1); mask++) {
    const one = encodes.reduce((s, e, i) => s + (mask & (1 << i) ? e.cost : 0), 0);
    const max = Math.max(one, encodes.reduce((s, e) => s + e.cost, 0) - one);
    if (max < best.max) best = { max, mask };
  }
  return [encodes.filter((_, i) => best.mask & (1 << i)), encodes.filter((_, i) => !(best.mask & (1 << i)))];
}

function asplitArgs(src: string, outDir: string, encodes: typeof ENCODES): string[] {
  const labels = encodes.map((_, i) => `[s${i}]`).join('');
  const graph = [`[0:a]asplit=${encodes.length}${labels}`, ...encodes.map((e, i) => `[s${i}]${e.filter}[o${i}]`)].join(';');
  return ['-i', src, '-filter_complex', graph, ...encodes.flatMap((e, i) => ['-map', `[o${i}]`, ...e.opts, path.join(outDir, e.name)])];
}

async function plainArrangements(src: string, dir: string) {
  const out = path.join(dir, 'plain');
  await mkdir(out, { recursive: true });
  const a = await measure(() => ffmpeg(asplitArgs(src, out, ENCODES)));
  // Balanced halves: AAC x3 + MP3 128 + FLAC | Opus x3 + MP3 320.
  const half1 = ENCODES.filter((e) => e.name.startsWith('aac') || e.name === 'mp3_128.ts' || e.name === 'flac.mp4');
  const half2 = ENCODES.filter((e) => !half1.includes(e));
  const b = await measure(() => Promise.all([ffmpeg(asplitArgs(src, out, half1)), ffmpeg(asplitArgs(src, out, half2))]));
  const [s1, s2] = bestSplit(ENCODES);
  const b2 = await measure(() => Promise.all([ffmpeg(asplitArgs(src, out, s1)), ffmpeg(asplitArgs(src, out, s2))]));
  const c = await measure(async () => {
    const queue = [...ENCODES];
    await Promise.all([0, 1].map(async () => {
      for (let e = queue.shift(); e; e = queue.shift()) await ffmpeg(['-i', src, '-af', e.filter, ...e.opts, path.join(out, e.name)]);
    }));
  });
  return [
    { name: 'A: 1 ffmpeg, asplit x9', ...a },
    { name: 'B: 2 ffmpeg in parallel, halves by family', ...b },
    { name: "B': 2 ffmpeg in parallel, least-max split", ...b2 },
    { name: 'C: 9 ffmpeg, 2 at a time', ...c },
  ];
}

async function main(): Promise<void> {
  const h = await startHarness('bench', { segmentDurationS: DEFAULT_SEGMENT_DURATION_S });
  const dir = path.join(h.dir, 'bench');
  await mkdir(dir, { recursive: true });
  const src = path.join(dir, 'source.wav');
  await ffmpeg([
    '-f', 'lavfi', '-i', `anoisesrc=c=pink:a=0.25:r=44100:d=${SECONDS}`,
    '-f', 'lavfi', '-i', `sine=f=440:r=44100:d=${SECONDS}`,
    '-f', 'lavfi', '-i', `sine=f=1250:r=44100:d=${SECONDS}`,
    '-filter_complex', '[0][1][2]amix=inputs=3:normalize=0,pan=stereo|c0=c0|c1=c0[a]', '-map', '[a]', '-c:a', 'pcm_s16le', src,
  ]);
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`source: ${SECONDS} s, 44.1 kHz/16-bit stereo WAV; ${os.cpus().length} cores; load average ${load()} (wall times are only comparable on an idle machine)`);

  const plain = ONLY_PLATFORM ? [] : await plainArrangements(src, dir);
  for (const p of plain) console.log(`plain ${p.name.padEnd(40)} wall ${p.wall.toFixed(2)} s  cpu ${p.cpu.toFixed(2)} s`);
  const best = plain.reduce<(typeof plain)[number] | undefined>((m, p) => (!m || p.wall < m.wall ? p : m), undefined);

  async function platform(count: number, concurrency: number, threadsPerJob: number) {
    const jobs = await Promise.all(Array.from({ length: count }, () => h.addTrack(src, 'wav')));
    // Stage marks (wall, CPU of this process and its finished children) from the worker's own hook.
    const marks: { stage: string; t: number; cpu: number }[] = [];
    // The end is the worker's own 'ready' (after the catalog flip), not a poll: polling the catalog every
    // 100 ms cost this process CPU and up to 100 ms of wall. The slow poll only catches a failed job.
    let readyCount = 0;
    let allReady = () => {};
    const ready = new Promise<void>((resolve) => (allReady = resolve));
    const worker: PackagerWorker = createPackagerWorker(h.deps, {
      concurrency, threadsPerJob, tmpDir: dir, streamPackaging: STREAM,
      onStage: (_job, stage) => {
        marks.push({ stage, t: performance.now(), cpu: cpuSeconds() });
        if (stage === 'ready' && ++readyCount === count) allReady();
      },
    });
    await worker.start();
    try {
      const t0 = performance.now();
      const c0 = cpuSeconds();
      const watch = watchFfmpegChildren();
      const r = await measure(async () => {
        for (const j of jobs) await h.send(j);
        await Promise.race([ready, Promise.all(jobs.map((j) => h.waitForStatus(j.trackId, 'ready', 600_000, 2000)))]);
      });
      const { overheadCpu, ffmpegs } = watch.stop();
      await Promise.all(jobs.map((j) => h.waitForStatus(j.trackId, 'ready', 10_000)));
      // The sampling is the benchmark's, not the worker's: left out of the run's CPU (not of the stage marks).
      return { ...r, cpu: r.cpu - overheadCpu, selfCpu: r.selfCpu - overheadCpu, marks: [{ stage: 'queued', t: t0, cpu: c0 }, ...marks], ffmpegs, overheadCpu };
    } finally {
      await worker.stop();
    }
  }

  const one = await platform(1, 1, 2);
  console.log(`platform (${STREAM ? 'packaging while transcoding' : 'packaging after transcoding, from files'}):`);
  console.log(`platform: 1 track, ladder split over 2 ffmpeg   wall ${one.wall.toFixed(2)} s  cpu ${one.cpu.toFixed(2)} s  (${(SECONDS / one.wall).toFixed(1)}x real time; Node itself ${one.selfCpu.toFixed(2)} s cpu)`);
  // CPU of a stage counts child processes when they end: ffmpeg's in transcoding, shaka's in packaging.
  const stages = one.marks.slice(0, -1).map((m, i) => `${m.stage} ${((one.marks[i + 1].t - m.t) / 1000).toFixed(2)}/${(one.marks[i + 1].cpu - m.cpu).toFixed(2)}`);
  console.log(`  stages (wall/cpu s): ${stages.join(', ')}`);
  console.log(`  ffmpeg processes (cpu s, ended at s; sampling them cost ${one.overheadCpu.toFixed(2)} s, left out above): ${one.ffmpegs.map((p) => `${p.cpu.toFixed(2)} @ ${p.endS.toFixed(2)} [${p.what}]`).join(', ')}`);
  if (!best) {
    console.log(`load average at the end: ${load()}`);
    await rm(dir, { recursive: true, force: true });
    await h.close();
    return;
  }
  console.log(`ratio platform / fastest plain (${best.name}): wall ${(one.wall / best.wall).toFixed(2)}x (goal <= 1.15x), cpu ${(one.cpu / best.cpu).toFixed(2)}x`);
  // Two jobs straight into processJob, one core each: through the in-process bus two random track ids
  // share a partition one time in three and then run one after the other, which measured the lottery.
  const twoJobs = await Promise.all([0, 1].map(() => h.addTrack(src, 'wav')));
  const twoWorker = createPackagerWorker(h.deps, { concurrency: 2, threadsPerJob: 1, tmpDir: dir, streamPackaging: STREAM });
  const two = await measure(() => Promise.all(twoJobs.map((j) => twoWorker.processJob(j))));
  if (two.value.some((o) => o !== 'ready')) throw new Error(`two-track run ended ${two.value.join(', ')}`);
  console.log(`platform: 2 tracks, 2 workers x 1 core           wall ${two.wall.toFixed(2)} s  cpu ${two.cpu.toFixed(2)} s`);
  const perHour = (3600 * 2) / two.wall;
  console.log(`throughput: ${perHour.toFixed(0)} tracks/hour of ${SECONDS / 60} min (${((SECONDS * 2) / two.wall).toFixed(1)}x real time) on ${os.cpus().length} cores`);
  console.log(`load average at the end: ${load()}`);
  await rm(dir, { recursive: true, force: true });
  await h.close();
}

await main();
