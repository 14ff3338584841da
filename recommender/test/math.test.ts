/** Numeric building blocks against small cases solved by hand. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { choleskyInPlace, orthonormalizeColumns, spdInverse, symmetricEigen } from '../src/linalg';
import { ndcgAtK, recallAtK } from '../src/metrics';
import { topK } from '../src/topk';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

describe('linear algebra', () => {
  it('Cholesky of [[4,2],[2,3]] is [[2,0],[1,sqrt 2]]', () => {
    const a = Float64Array.from([4, 2, 2, 3]);
    choleskyInPlace(a, 2);
    close(a[0], 2); close(a[1], 0); close(a[2], 1); close(a[3], Math.SQRT2);
  });

  it('inverse of [[3,2,1],[2,4,2],[1,2,3]] is [[8,-4,0],[-4,8,-4],[0,-4,8]] / 16', () => {
    const inv = spdInverse(Float64Array.from([3, 2, 1, 2, 4, 2, 1, 2, 3]), 3);
    const want = [8, -4, 0, -4, 8, -4, 0, -4, 8].map((x) => x / 16);
    want.forEach((w, i) => close(inv[i], w));
  });

  it('refuses a matrix that is not positive definite', () => {
    assert.throws(() => choleskyInPlace(Float64Array.from([1, 2, 2, 1]), 2), /not positive definite/);
  });

  it('eigen-decomposition of [[2,1],[1,2]]: values 3 and 1, vectors (1,1)/sqrt2 and (1,-1)/sqrt2', () => {
    const { values, vectors } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
    close(values[0], 3); close(values[1], 1);
    close(Math.abs(vectors[0]), Math.SQRT1_2); close(vectors[0] * vectors[2], 0.5); // same sign: (1,1)
    close(vectors[1] * vectors[3], -0.5); // opposite signs: (1,-1)
  });

  it('orthonormalizes columns', () => {
    const z = Float64Array.from([1, 1, 0, 1, 0, 0]); // 3 x 2, columns (1,0,0) and (1,1,0)
    orthonormalizeColumns(z, 3, 2);
    close(z[0] * z[1] + z[2] * z[3] + z[4] * z[5], 0);
    close(z[1] * z[1] + z[3] * z[3] + z[5] * z[5], 1);
    close(Math.abs(z[3]), 1);
  });
});

describe('ranking metrics', () => {
  const ranked = [5, 3, 9, 1];
  const relevant = new Set([3, 1, 7]);
  it('Recall@k is hits over all relevant items', () => {
    close(recallAtK(ranked, relevant, 3), 1 / 3);
    close(recallAtK(ranked, relevant, 4), 2 / 3);
    close(recallAtK([], relevant, 20), 0);
  });
  it('NDCG@k uses log2(rank + 1) discounts and the ideal DCG over min(k, |relevant|)', () => {
    const idcg3 = 1 + 1 / Math.log2(3) + 1 / Math.log2(4);
    close(ndcgAtK(ranked, relevant, 3), 1 / Math.log2(3) / idcg3);
    close(ndcgAtK(ranked, relevant, 4), (1 / Math.log2(3) + 1 / Math.log2(5)) / idcg3);
    close(ndcgAtK([3, 1, 7], relevant, 20), 1);
  });
});

describe('topK', () => {
  it('returns the best k, best first, skipping excluded and -Infinity, ties to the lower index', () => {
    const s = Float64Array.from([0.1, 0.9, 0.5, 0.9, -Infinity, 0.7]);
    assert.deepEqual(topK(s, 3).map((x) => x.item), [1, 3, 5]);
    assert.deepEqual(topK(s, 3, (i) => i === 1).map((x) => x.item), [3, 5, 2]);
    assert.deepEqual(topK(s, 10).map((x) => x.item), [1, 3, 5, 2, 0]);
  });
});
