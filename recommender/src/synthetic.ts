/**
 * Generated interactions with planted taste clusters, for tests and benchmarks: each user belongs to
 * one cluster and plays mostly (`purity`) that cluster's items, with Zipf-like popularity inside it.
 * A model that recovers the clusters recommends in-cluster items.
 */
import type { Interaction } from './matrix';

export interface PlantedClusters {
  interactions: Interaction[];
  userCluster: Map<string, number>;
  itemCluster: Map<string, number>;
  items: string[];
}

export function plantedClusters(opts: { users: number; items: number; clusters: number; perUser: number; purity: number; seed?: number; itemIds?: string[] }): PlantedClusters {
  let s = opts.seed ?? 1;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const items = opts.itemIds ?? Array.from({ length: opts.items }, (_, i) => `i${i}`);
  const itemCluster = new Map(items.map((id, i) => [id, i % opts.clusters]));
  const byCluster: string[][] = Array.from({ length: opts.clusters }, () => []);
  items.forEach((id, i) => byCluster[i % opts.clusters].push(id));
  const userCluster = new Map<string, number>();
  const interactions: Interaction[] = [];
  const zipf = (n: number) => Math.min(n - 1, Math.floor(Math.pow(rnd(), 2) * n));
  for (let u = 0; u < opts.users; u++) {
    const user = `u${u}`;
    const c = u % opts.clusters;
    userCluster.set(user, c);
    const counts = new Map<string, number>();
    for (let k = 0; k < opts.perUser; k++) {
      const pool = rnd() < opts.purity ? byCluster[c] : items;
      const item = pool === items ? items[Math.floor(rnd() * items.length)] : pool[zipf(pool.length)];
      counts.set(item, (counts.get(item) ?? 0) + 1);
    }
    for (const [item, weight] of counts) interactions.push({ user, item, weight });
  }
  return { interactions, userCluster, itemCluster, items };
}
