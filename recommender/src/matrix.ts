/**
 * The user x item interaction matrix every model trains on: compressed sparse rows by user (and the
 * transpose by item), plus the id maps between external ids (strings) and dense indices.
 */

export interface Interaction {
  user: string;
  item: string;
  weight: number;
}

export interface InteractionMatrix {
  nUsers: number;
  nItems: number;
  userIds: string[];
  itemIds: string[];
  userIndex: Map<string, number>;
  itemIndex: Map<string, number>;
  /** CSR by user: items of user u are indices[indptr[u]..indptr[u+1]) with values. */
  indptr: Int32Array;
  indices: Int32Array;
  values: Float64Array;
  /** CSC (CSR of the transpose): users of item i. */
  itemPtr: Int32Array;
  itemUsers: Int32Array;
  itemValues: Float64Array;
}

/** Build the matrix; repeated (user, item) pairs add up. Id maps may be given to keep indices stable. */
export function buildMatrix(
  rows: Iterable<Interaction>,
  opts: { itemIds?: string[]; userIds?: string[] } = {},
): InteractionMatrix {
  const userIndex = new Map<string, number>();
  const itemIndex = new Map<string, number>();
  const userIds: string[] = [];
  const itemIds: string[] = [];
  for (const u of opts.userIds ?? []) if (!userIndex.has(u)) { userIndex.set(u, userIds.length); userIds.push(u); }
  for (const i of opts.itemIds ?? []) if (!itemIndex.has(i)) { itemIndex.set(i, itemIds.length); itemIds.push(i); }
  const perUser: Map<number, number>[] = [];
  for (const r of rows) {
    let u = userIndex.get(r.user);
    if (u === undefined) { u = userIds.length; userIndex.set(r.user, u); userIds.push(r.user); }
    let i = itemIndex.get(r.item);
    if (i === undefined) { i = itemIds.length; itemIndex.set(r.item, i); itemIds.push(r.item); }
    let m = perUser[u];
    if (!m) { m = new Map(); perUser[u] = m; }
    m.set(i, (m.get(i) ?? 0) + r.weight);
  }
  const nUsers = userIds.length;
  const nItems = itemIds.length;
  const indptr = new Int32Array(nUsers + 1);
  for (let u = 0; u < nUsers; u++) indptr[u + 1] = indptr[u] + (perUser[u]?.size ?? 0);
  const nnz = indptr[nUsers];
  const indices = new Int32Array(nnz);
  const values = new Float64Array(nnz);
  for (let u = 0; u < nUsers; u++) {
    const m = perUser[u];
    if (!m) continue;
    const entries = [...m.entries()].sort((a, b) => a[0] - b[0]);
    let p = indptr[u];
    for (const [i, w] of entries) { indices[p] = i; values[p] = w; p++; }
  }
  return withTranspose({ nUsers, nItems, userIds, itemIds, userIndex, itemIndex, indptr, indices, values });
}

function withTranspose(
  m: Omit<InteractionMatrix, 'itemPtr' | 'itemUsers' | 'itemValues'>,
): InteractionMatrix {
  const itemPtr = new Int32Array(m.nItems + 1);
  for (let p = 0; p < m.indices.length; p++) itemPtr[m.indices[p] + 1]++;
  for (let i = 0; i < m.nItems; i++) itemPtr[i + 1] += itemPtr[i];
  const fill = itemPtr.slice(0, m.nItems);
  const itemUsers = new Int32Array(m.indices.length);
  const itemValues = new Float64Array(m.indices.length);
  for (let u = 0; u < m.nUsers; u++) {
    for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) {
      const q = fill[m.indices[p]]++;
      itemUsers[q] = u;
      itemValues[q] = m.values[p];
    }
  }
  return { ...m, itemPtr, itemUsers, itemValues };
}

export function itemPopularity(m: InteractionMatrix): Float64Array {
  const pop = new Float64Array(m.nItems);
  for (let i = 0; i < m.nItems; i++) pop[i] = m.itemPtr[i + 1] - m.itemPtr[i];
  return pop;
}
