/**
 * Training in a worker thread: the artifact equals the in-thread one byte for byte, the main event
 * loop keeps turning (and a Fastify app keeps answering) while a ~200k-interaction run trains, and
 * aborting terminates the worker. Real worker threads, real Fastify over loopback.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { plantedClusters } from '../src/synthetic';
import { trainArtifact } from '../src/train';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@platform/config';
import { createObjectStore } from '@platform/storage';
import { encodeArtifact, saveArtifact, saveEncodedArtifact } from '../src/artifact-store';
import { trainInWorker } from '../src/train-worker-client';
import { loadCompactModel } from '../src/model-loader';
import { rowView } from '../src/compact-model';
import type { CatalogTrack } from '../src/signals';

function catalogFor(items: string[], clusters: number): CatalogTrack[] {
  return items.map((id, i) => ({
    id,
    title: `Track ${i}`,
    artist: `Artist ${i % clusters}-${i % 3}`,
    artistId: `a${i % clusters}-${i % 3}`,
    genre: i % 7 === 0 ? null : `genre-${i % clusters}`,
    loudness: i % 11 === 0 ? null : -14 + (i % 5),
    published: i !== 5,
  }));
}

describe('training in a worker thread', () => {
  it('produces exactly the in-thread artifact (planted clusters, unknown and new tracks included)', async () => {
    const clusters = 4;
    const g = plantedClusters({ users: 300, items: 120, clusters, perUser: 30, purity: 0.85, seed: 7 });
    const catalog = catalogFor(g.items, clusters);
    catalog.push({ id: 'fresh', title: 'Fresh', artist: 'Artist 2-0', artistId: 'a2-0', genre: 'genre-2', loudness: -12, published: true });
    // A play of a track deleted since: both paths must drop it the same way.
    const interactions = [...g.interactions, { user: 'u-gone', item: 'deleted-track', weight: 3 }];
    const opts = { picksPerUser: 20, similarPerTrack: 10, version: 'eq', now: new Date('2026-11-26T05:00:00Z') };
    const local = trainArtifact(interactions, catalog, opts).artifact;
    const remote = await trainInWorker(interactions, catalog, opts);
    assert.deepEqual(remote.meta, { version: 'eq', trainedAt: local.trainedAt, model: local.model, counts: local.counts });
    assert.deepEqual(JSON.parse(gunzipSync(remote.gz).toString('utf8')), local);
    assert.ok(remote.gz.equals(encodeArtifact(local)), 'stored bytes differ');
    assert.equal(local.counts.users, 300);

    // Serving decodes the stored model in a worker into flat lists: the same picks, similar tracks
    // and popularity order as the artifact object.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'recs-loader-'));
    try {
      const objects = await createObjectStore(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }));
      const latest = await saveArtifact(objects, local);
      const m = (await loadCompactModel(objects, latest.key))!;
      assert.equal(m.version, 'eq');
      assert.deepEqual(m.tracks, local.tracks);
      assert.deepEqual(m.userIds, Object.keys(local.users));
      m.userIds.forEach((u, r) => {
        const v = rowView(m.users, r);
        assert.deepEqual({ items: [...v.items], scores: [...v.scores], because: [...v.because] }, local.users[u]);
      });
      local.similar.forEach((l, i) => {
        const v = rowView(m.similar, i);
        assert.deepEqual({ items: [...v.items], scores: [...v.scores], because: [...v.because] }, l);
      });
      const order = local.popularity.map((p, i) => ({ p, i })).filter((x) => x.p > 0 && local.tracks[x.i].published).sort((x, y) => y.p - x.p || x.i - y.i).map((x) => x.i);
      assert.deepEqual([...m.popularOrder], order);
      assert.equal(await loadCompactModel(objects, 'models/recs/missing/model.json.gz'), null);
      await objects.put('models/recs/bad/model.json.gz', Buffer.from('not gzip'));
      await assert.rejects(loadCompactModel(objects, 'models/recs/bad/model.json.gz'), /not a valid artifact/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the main event loop turning and HTTP answering while ~200k interactions train', async () => {
    const g = plantedClusters({ users: 4000, items: 1500, clusters: 20, perUser: 70, purity: 0.8, seed: 11 });
    assert.ok(g.interactions.length >= 190_000, `${g.interactions.length} interactions`);
    const catalog = catalogFor(g.items, 20);
    const app = Fastify();
    app.get('/ping', async () => ({ ok: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/ping`;
    try {
      let trained = false;
      let ticks = 0;
      let ticksBeforeDone = -1;
      let answeredDuringTraining = 0;
      const timer = setInterval(() => { ticks++; }, 5);
      const training = trainInWorker(g.interactions, catalog, { picksPerUser: 100, similarPerTrack: 30, version: 'load' })
        .then((r) => { ticksBeforeDone = ticks; trained = true; return r; });
      // Request after request for as long as training runs: each one answered while it still ran counts.
      const client = (async () => {
        while (!trained) {
          const res = await fetch(url);
          assert.equal(res.status, 200);
          await res.json();
          if (!trained) answeredDuringTraining++;
        }
      })();
      const result = await training;
      await client;
      clearInterval(timer);
      assert.equal(result.meta.counts.users, 4000);
      // Progress is counted, not timed: the loop ran timers and served HTTP while the fit was going on.
      assert.ok(ticksBeforeDone >= 10, `only ${ticksBeforeDone} timer ticks while training`);
      assert.ok(answeredDuringTraining >= 10, `only ${answeredDuringTraining} HTTP answers while training`);

      // Serving picks the new version up the same way: decoding 4,000 listeners' lists happens in a
      // worker while this loop keeps answering.
      const dir = await mkdtemp(path.join(os.tmpdir(), 'recs-loader-'));
      try {
        const objects = await createObjectStore(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }));
        const latest = await saveEncodedArtifact(objects, result.meta, result.gz);
        let loaded = false;
        let answeredDuringLoad = 0;
        const loading = loadCompactModel(objects, latest.key).then((m) => { loaded = true; return m; });
        while (!loaded) {
          const res = await fetch(url);
          assert.equal(res.status, 200);
          await res.json();
          if (!loaded) answeredDuringLoad++;
        }
        const m = (await loading)!;
        assert.equal(m.userIds.length, 4000);
        assert.ok(answeredDuringLoad >= 3, `only ${answeredDuringLoad} HTTP answers while the model loaded`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    } finally {
      await app.close();
    }
  });

  it('an abort terminates the worker and rejects with the abort reason', async () => {
    const g = plantedClusters({ users: 3000, items: 1200, clusters: 10, perUser: 40, purity: 0.8, seed: 5 });
    const ac = new AbortController();
    let exited: number | null = null;
    const run = trainInWorker(g.interactions, catalogFor(g.items, 10), { picksPerUser: 100, similarPerTrack: 30, version: 'abort' }, {
      signal: ac.signal,
      // Abort as soon as the thread exists, i.e. while it trains.
      onWorker: (w) => { w.once('exit', (code) => { exited = code; }); setImmediate(() => ac.abort(new Error('stopping'))); },
    });
    await assert.rejects(run, /stopping/);
    // The thread is gone by the time the run rejects.
    assert.notEqual(exited, null, 'the training thread was still running');
  });

  it('a worker that dies (heap limit) surfaces as a rejected run', async () => {
    const g = plantedClusters({ users: 3000, items: 1200, clusters: 10, perUser: 40, purity: 0.8, seed: 5 });
    await assert.rejects(
      trainInWorker(g.interactions, catalogFor(g.items, 10), { picksPerUser: 100, similarPerTrack: 30, version: 'oom' }, { resourceLimits: { maxOldGenerationSizeMb: 16 } }),
      /training worker/,
    );
  });
});
