/**
 * Dense symmetric positive definite linear algebra on row-major Float64Arrays: Cholesky and the
 * inverse built on it. Plain typed-array loops, written so the innermost loop walks contiguous rows
 * (V8 keeps those in registers and cache); no numeric library in npm both ships pure JS and beats this.
 */

/**
 * In-place Cholesky A = L L^T of an n x n SPD matrix (row-major); the lower triangle becomes L,
 * the strict upper triangle is zeroed. Throws when A is not positive definite.
 */
export function choleskyInPlace(a: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j];
    for (let k = 0; k < j; k++) d -= a[rj + k] * a[rj + k];
    if (!(d > 0)) throw new Error(`Matrix is not positive definite (pivot ${j} = ${d}).`);
    const ljj = Math.sqrt(d);
    a[rj + j] = ljj;
    const inv = 1 / ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      // dot(L[i, 0..j), L[j, 0..j)) over two contiguous rows
      let s = a[ri + j];
      for (let k = 0; k < j; k++) s -= a[ri + k] * a[rj + k];
      a[ri + j] = s * inv;
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = 0;
}

/** Inverse of an SPD matrix via Cholesky: A^-1 = L^-T L^-1. Returns a new full symmetric matrix. */
export function spdInverse(aIn: Float64Array, n: number): Float64Array {
  const l = Float64Array.from(aIn);
  choleskyInPlace(l, n);
  // Invert L in place (lower triangular): row i of L^-1 from rows above.
  // Store M = L^-1 row-major in m.
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    const inv = 1 / l[ri + i];
    m[ri + i] = inv;
    // M[i, j] = -inv * sum_{k=j..i-1} L[i,k] M[k,j]  for j < i; accumulate row-wise: row_i -= L[i,k] * row_k
    for (let k = 0; k < i; k++) {
      const c = l[ri + k];
      if (c === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) m[ri + j] -= c * m[rk + j];
    }
    for (let j = 0; j < i; j++) m[ri + j] *= inv;
  }
  // A^-1 = M^T M: (A^-1)[i,j] = sum_k M[k,i] M[k,j], k >= max(i,j). Accumulate by rows of M.
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const c = m[rk + i];
      if (c === 0) continue;
      const ri = i * n;
      for (let j = 0; j <= i; j++) out[ri + j] += c * m[rk + j];
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[j * n + i] = out[i * n + j];
  return out;
}
