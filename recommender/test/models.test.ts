/** Each model on a tiny matrix whose answer is worked out by hand. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildMatrix } from '../src/matrix';
import { Ease, precisionDirect, precisionWoodbury } from '../src/models/ease';
import { ItemKnn } from '../src/models/item-knn';
import { Rp3beta } from '../src/models/rp3beta';
import { UserKnn } from '../src/models/user-knn';
import { GfCf } from '../src/models/gf-cf';
import { Blend } from '../src/models/blend';
import { MostPopular } from '../src/models/most-popular';
import { historyOf } from '../src/models/types';
import { fitWeighting } from '../src/weighting';
import { Ials, choleskySolve } from '../src/models/ials';
import { choleskyInPlace, spdInverse } from '../src/linalg';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

// users x items:  u1 [1 1 0], u2 [0 1 1], u3 [1 1 1]  => G = X^T X = [[2,2,1],[2,3,2],[1,2,2]]
const rows = [
  ['u1', 'a'], ['u1', 'b'],
  ['u2', 'b'], ['u2', 'c'],
  ['u3', 'a'], ['u3', 'b'], ['u3', 'c'],
].map(([user, item]) => ({ user, item, weight: 1 }));

describe('EASE^R', () => {
  it('lambda 1: P = [[8,-4,0],[-4,8,-4],[0,-4,8]] / 16, so B = [[0,.5,0],[.5,0,.5],[0,.5,0]]', () => {
    const m = buildMatrix(rows);
    const ease = new Ease({ lambda: 1, weighting: { kind: 'binary' } });
    ease.fit(m);
    const W = ease.weights!;
    assert.equal(W.kind, 'dense');
    const want = [0, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0];
    if (W.kind === 'dense') want.forEach((w, i) => close(W.w[i], w));
    // u1 played a and b: scores = row a + row b = [0.5, 0.5, 0.5]
    const s = ease.score(historyOf(m, m.userIndex.get('u1')!));
    [0.5, 0.5, 0.5].forEach((w, i) => close(s[i], w));
  });

  it('the Woodbury path (fewer users than items) equals the direct inverse', () => {
    const wide = buildMatrix([
      ['x', 'a'], ['x', 'b'], ['x', 'd'], ['y', 'b'], ['y', 'c'], ['y', 'e'],
    ].map(([user, item]) => ({ user, item, weight: 1 + item.charCodeAt(0) % 3 })));
    const a = precisionDirect(wide, 2.5);
    const b = precisionWoodbury(wide, 2.5);
    for (let i = 0; i < a.length; i++) close(a[i], b[i], 1e-12);
  });
});

describe('item-kNN (cosine)', () => {
  it('sim(a,b) = 2/sqrt(6), sim(a,c) = 1/2, sim(b,c) = 2/sqrt(6); u1 scores c with sim(a,c) + sim(b,c)', () => {
    const m = buildMatrix(rows);
    const knn = new ItemKnn({ neighbors: 10, shrink: 0, weighting: { kind: 'binary' } });
    knn.fit(m);
    const [a, b, c] = ['a', 'b', 'c'].map((x) => m.itemIndex.get(x)!);
    const sim = knn.similar(a, 2);
    assert.deepEqual(sim.map((s) => s.item), [b, c]);
    close(sim[0].score, 2 / Math.sqrt(6), 1e-6);
    close(sim[1].score, 0.5, 1e-6);
    const s = knn.score(historyOf(m, m.userIndex.get('u1')!));
    close(s[c], 0.5 + 2 / Math.sqrt(6), 1e-6);
  });

  it('keeps only each target item\'s nearest neighbours', () => {
    const m = buildMatrix(rows);
    const knn = new ItemKnn({ neighbors: 1, shrink: 0, weighting: { kind: 'binary' } });
    knn.fit(m);
    // c's single nearest neighbour is b (0.816 > 0.5), so a history of only {a} cannot reach c.
    const [a, c] = ['a', 'c'].map((x) => m.itemIndex.get(x)!);
    const s = knn.score({ items: Int32Array.of(a), values: Float64Array.of(1) });
    close(s[c], 0);
  });
});

describe('RP3beta', () => {
  it('alpha 1, beta 0 is the two-step walk item -> user -> item', () => {
    const m = buildMatrix(rows);
    const rp3 = new Rp3beta({ alpha: 1, beta: 0, neighbors: 10, weighting: { kind: 'binary' } });
    rp3.fit(m);
    const [a, c] = ['a', 'c'].map((x) => m.itemIndex.get(x)!);
    // From a: to u1 or u3 (1/2 each); u1 -> c impossible, u3 -> c with 1/3  => W[a, c] = 1/6
    const s = rp3.score({ items: Int32Array.of(a), values: Float64Array.of(1) });
    close(s[c], 1 / 6, 1e-6);
  });
});

describe('user-kNN, GF-CF, blend, most popular', () => {
  it('user-kNN scores a user by their most similar users', () => {
    const m = buildMatrix(rows);
    const uknn = new UserKnn({ neighbors: 1, exponent: 1, shrink: 0, weighting: { kind: 'binary' } });
    uknn.fit(m);
    // A new history {a}: cosine with u1 = 1/sqrt2 (best), u3 = 1/sqrt3, u2 = 0 -> u1's items.
    const [a, b, c] = ['a', 'b', 'c'].map((x) => m.itemIndex.get(x)!);
    const s = uknn.score({ items: Int32Array.of(a), values: Float64Array.of(1) });
    close(s[b], Math.SQRT1_2, 1e-9);
    close(s[c], 0);
  });

  it('GF-CF linear filter is R~^T R~ with degree-normalized R~', () => {
    const m = buildMatrix(rows);
    const gf = new GfCf({ rank: 1, alpha: 0, iterations: 3, weighting: { kind: 'binary' } });
    gf.fit(m);
    const [a, c] = ['a', 'c'].map((x) => m.itemIndex.get(x)!);
    // only u3 has both a and c: 1/(sqrt(3*2) * sqrt(3*2)) = 1/6
    const s = gf.score({ items: Int32Array.of(a), values: Float64Array.of(1) });
    close(s[c], 1 / 6, 1e-9);
  });

  it('blend scales each part by its max before weighting', () => {
    const m = buildMatrix(rows);
    const blend = new Blend('b', [{ model: new MostPopular(), weight: 1 }, { model: new MostPopular(), weight: 1 }]);
    blend.fit(m);
    const s = blend.score({ items: new Int32Array(0), values: new Float64Array(0) });
    // popularity a=2, b=3, c=2 -> each part [2/3, 1, 2/3] -> sum
    close(s[m.itemIndex.get('b')!], 2);
    close(s[m.itemIndex.get('a')!], 4 / 3);
  });
});

describe('weighting', () => {
  it('log confidence is 1 + alpha log(1 + count)', () => {
    const m = buildMatrix([{ user: 'u', item: 'i', weight: Math.E - 1 }]);
    close(fitWeighting({ kind: 'log', alpha: 2 }, m).matrix(m).values[0], 3);
  });
  it('BM25 is idf * v (k1 + 1) / (v + k1 (1 - b + b len / avgLen)), saturating below idf (k1 + 1)', () => {
    const m = buildMatrix([{ user: 'u', item: 'i', weight: 100 }, { user: 'u', item: 'j', weight: 1 }, { user: 'v', item: 'j', weight: 1 }]);
    const w = fitWeighting({ kind: 'bm25', k1: 1.2, b: 0.75 }, m);
    const row = w.row(Int32Array.of(0, 1), Float64Array.of(100, 1));
    // u: len 101, mean len 51; idf(i) = ln((2 - 1 + .5)/(1 + .5) + 1) = ln 2, idf(j) = ln(.5/2.5 + 1)
    const norm = 1.2 * (0.25 + (0.75 * 101) / 51);
    close(row[0], (Math.LN2 * 100 * 2.2) / (100 + norm));
    close(row[1], (Math.log(1.2) * 1 * 2.2) / (1 + norm));
    assert.ok(row[0] < Math.LN2 * 2.2);
  });
});

describe('implicit ALS', () => {
  it('solves [[4,2],[2,3]] x = [2,1] by Cholesky: x = [1/2, 0]', () => {
    const L = Float64Array.from([4, 2, 2, 3]);
    choleskyInPlace(L, 2);
    const x = choleskySolve(L, Float64Array.of(2, 1), 2);
    close(x[0], 0.5); close(x[1], 0);
  });

  it("folds a history in by the dense normal equations (Y^T C Y + reg I) x = Y^T C p over every item", () => {
    const m = buildMatrix(rows.map((r, i) => ({ ...r, weight: 1 + i })));
    const f = 2, reg = 0.5, alpha = 3;
    const model = new Ials({ factors: f, reg, alpha, iterations: 5, cgSteps: 2, weighting: { kind: 'log', alpha: 1 } });
    model.fit(m);
    const Y = model.itemFactors;
    const h = historyOf(m, m.userIndex.get('u3')!);
    const conf = new Float64Array(m.nItems).fill(1);
    const pref = new Float64Array(m.nItems);
    const wrow = fitWeighting({ kind: 'log', alpha: 1 }, m).row(h.items, h.values);
    h.items.forEach((i, p) => { conf[i] = 1 + alpha * wrow[p]; pref[i] = 1; });
    const A = new Float64Array(f * f), b = new Float64Array(f);
    for (let i = 0; i < m.nItems; i++) {
      for (let a = 0; a < f; a++) {
        b[a] += conf[i] * pref[i] * Y[i * f + a];
        for (let c = 0; c < f; c++) A[a * f + c] += conf[i] * Y[i * f + a] * Y[i * f + c];
      }
    }
    for (let a = 0; a < f; a++) A[a * f + a] += reg;
    const inv = spdInverse(A, f);
    const x = [0, 1].map((a) => inv[a * f] * b[0] + inv[a * f + 1] * b[1]);
    const s = model.score(h);
    for (let j = 0; j < m.nItems; j++) close(s[j], x[0] * Y[j * f] + x[1] * Y[j * f + 1], 1e-9);
  });

  it('recovers two disjoint taste groups: unseen items of the group first', () => {
    const groups = [['a1', 'a2', 'a3', 'a4'], ['b1', 'b2', 'b3', 'b4']];
    const data = [];
    for (let u = 0; u < 40; u++) {
      const g = groups[u % 2];
      for (let k = 0; k < 3; k++) data.push({ user: `u${u}`, item: g[(Math.floor(u / 2) + k) % 4], weight: 1 + ((u + k) % 5) });
    }
    const m = buildMatrix(data);
    // Two factors for two tastes (more would start fitting each listener's own three-of-four).
    const model = new Ials({ factors: 2, reg: 0.1, alpha: 2, iterations: 15, cgSteps: 3, weighting: { kind: 'binary' } });
    model.fit(m);
    const s = model.score({ items: Int32Array.of(m.itemIndex.get('a1')!, m.itemIndex.get('a2')!), values: Float64Array.of(1, 1) });
    const worstA = Math.min(s[m.itemIndex.get('a3')!], s[m.itemIndex.get('a4')!]);
    for (const b of groups[1]) assert.ok(worstA > s[m.itemIndex.get(b)!], `a-item ${worstA} <= ${b} ${s[m.itemIndex.get(b)!]}`);
  });
});
