/**
 * The served model in memory: the artifact's per-user and per-track lists as flat typed arrays
 * (CSR: row r is [ptr[r], ptr[r+1])). Built in a worker thread from the stored bytes (gunzip, JSON
 * parse and zod validation of a multi-megabyte artifact take seconds at 20k listeners), then moved
 * to the main thread in a transfer list: the main thread only receives ids and a few small objects,
 * so loading a new model version never stalls the requests of the process.
 */
import { gunzipSync } from 'node:zlib';
import { ZRecsArtifact, type TRecsArtifact, type TRecsArtifactTrack } from '@platform/models';

export interface CsrLists {
  ptr: Int32Array;
  items: Int32Array;
  scores: Float64Array;
  because: Int32Array;
}

export interface CompactModel {
  version: string;
  trainedAt: string;
  model: string;
  counts: TRecsArtifact['counts'];
  tracks: TRecsArtifactTrack[];
  popularity: Float64Array;
  /** Published tracks with listeners, most listened first (ties by index): the popular fallback. */
  popularOrder: Int32Array;
  similar: CsrLists;
  userIds: string[];
  users: CsrLists;
}

export interface RecsListView { items: Int32Array; scores: Float64Array; because: Int32Array }

function toCsr(lists: TRecsArtifact['similar']): CsrLists {
  const ptr = new Int32Array(lists.length + 1);
  lists.forEach((l, r) => { ptr[r + 1] = ptr[r] + l.items.length; });
  const n = ptr[lists.length];
  const out: CsrLists = { ptr, items: new Int32Array(n), scores: new Float64Array(n), because: new Int32Array(n) };
  lists.forEach((l, r) => {
    out.items.set(l.items, ptr[r]);
    out.scores.set(l.scores, ptr[r]);
    out.because.set(l.because, ptr[r]);
  });
  return out;
}

export function compactArtifact(a: TRecsArtifact): CompactModel {
  const userIds = Object.keys(a.users);
  const popularity = Float64Array.from(a.popularity);
  const order = [...popularity.keys()].filter((i) => popularity[i] > 0 && a.tracks[i].published).sort((x, y) => popularity[y] - popularity[x] || x - y);
  return {
    version: a.version,
    trainedAt: a.trainedAt,
    model: a.model,
    counts: a.counts,
    tracks: a.tracks,
    popularity,
    popularOrder: Int32Array.from(order),
    similar: toCsr(a.similar),
    userIds,
    users: toCsr(userIds.map((u) => a.users[u])),
  };
}

/** Stored bytes -> validated compact model (CPU-heavy: call it in a worker, see loadCompactModel). */
export function decodeCompactModel(gz: Uint8Array): CompactModel {
  return compactArtifact(ZRecsArtifact.parse(JSON.parse(gunzipSync(gz).toString('utf8'))));
}

export function transferablesOf(m: CompactModel): ArrayBuffer[] {
  const bufs = [m.popularity, m.popularOrder, ...Object.values(m.similar), ...Object.values(m.users)].map((t) => (t as Int32Array).buffer as ArrayBuffer);
  return [...new Set(bufs)];
}

/** Row r of a CSR list set, as zero-copy views. */
export function rowView(l: CsrLists, r: number): RecsListView {
  const a = l.ptr[r], b = l.ptr[r + 1];
  return { items: l.items.subarray(a, b), scores: l.scores.subarray(a, b), because: l.because.subarray(a, b) };
}
