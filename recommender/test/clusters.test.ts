/**
 * Training on generated interactions with planted taste clusters: the shipped personal-picks blend
 * must recover the clusters (recommend in-cluster tracks), similar tracks must stay in-cluster, a
 * track nobody played gets content neighbours, and unpublished tracks are never picked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { plantedClusters } from '../src/synthetic';
import { trainArtifact, trainArtifactParallel } from '../src/train';
import type { CatalogTrack } from '../src/signals';

describe('training recovers planted taste clusters', () => {
  const clusters = 4;
  const g = plantedClusters({ users: 300, items: 120, clusters, perUser: 30, purity: 0.85, seed: 3 });
  const catalog: CatalogTrack[] = g.items.map((id, i) => ({
    id,
    title: `Track ${i}`,
    artist: `Artist ${i % clusters}-${i % 3}`,
    artistId: `a${i % clusters}-${i % 3}`,
    genre: `genre-${i % clusters}`,
    loudness: -14 + (i % 5),
    published: i !== 5, // one unpublished track, in cluster 1
  }));
  // A brand-new track (no plays yet) in cluster 2's genre, by one of its artists.
  catalog.push({ id: 'fresh', title: 'Fresh', artist: 'Artist 2-0', artistId: 'a2-0', genre: 'genre-2', loudness: -12, published: true });
  const { artifact } = trainArtifact(g.interactions, catalog, { picksPerUser: 20, similarPerTrack: 10, version: 'test' });
  const clusterOf = (i: number) => g.itemCluster.get(artifact.tracks[i].id);

  it('personal picks for each listener come from their own cluster', () => {
    let inCluster = 0, total = 0;
    for (const [user, list] of Object.entries(artifact.users)) {
      const c = g.userCluster.get(user);
      for (const i of list.items.slice(0, 10)) {
        total++;
        if (clusterOf(i) === c) inCluster++;
      }
    }
    assert.equal(Object.keys(artifact.users).length, 300);
    assert.ok(total >= 2500, `only ${total} picks`);
    assert.ok(inCluster / total > 0.95, `in-cluster share ${inCluster / total}`);
  });

  it('picks exclude what the listener already has and what is unpublished', () => {
    const had = new Map<string, Set<string>>();
    for (const r of g.interactions) (had.get(r.user) ?? had.set(r.user, new Set()).get(r.user)!).add(r.item);
    for (const [user, list] of Object.entries(artifact.users)) {
      for (const i of list.items) {
        assert.ok(!had.get(user)!.has(artifact.tracks[i].id), `${user} already had ${artifact.tracks[i].id}`);
        assert.ok(artifact.tracks[i].published);
      }
      // every pick carries the history item that explains it, from the listener's own history
      list.because.forEach((b) => assert.ok(b >= 0 && had.get(user)!.has(artifact.tracks[b].id)));
    }
  });

  it('similar tracks stay in the cluster', () => {
    let same = 0, total = 0;
    artifact.similar.forEach((s, i) => {
      if (artifact.tracks[i].id === 'fresh') return;
      for (const j of s.items) {
        total++;
        if (clusterOf(j) === clusterOf(i)) same++;
      }
    });
    assert.ok(same / total > 0.95, `same-cluster share ${same / total}`);
  });

  it('a track nobody played gets content neighbours: its artist first, then its genre', () => {
    const i = artifact.tracks.findIndex((t) => t.id === 'fresh');
    const s = artifact.similar[i];
    assert.equal(s.items.length, 10);
    const first = artifact.tracks[s.items[0]];
    assert.equal(first.artistId, 'a2-0');
    for (const j of s.items) assert.equal(artifact.tracks[j].genre, 'genre-2');
  });

  it('the two-thread training produces exactly the same artifact', async () => {
    const par = await trainArtifactParallel(g.interactions, catalog, { picksPerUser: 20, similarPerTrack: 10, version: 'test', minUsersForWorker: 10 });
    assert.deepEqual({ ...par.artifact, trainedAt: '' }, { ...artifact, trainedAt: '' });
  });
});
