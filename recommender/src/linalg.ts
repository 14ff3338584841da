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

/**
 * Eigen-decomposition of a small dense symmetric matrix (row-major, k x k) by cyclic Jacobi
 * rotations. Returns eigenvalues (descending) and eigenvectors as the columns of a k x k matrix.
 */
export function symmetricEigen(aIn: Float64Array, k: number, maxSweeps = 30): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(aIn);
  const v = new Float64Array(k * k);
  for (let i = 0; i < k; i++) v[i * k + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < k; p++) {
      diag += a[p * k + p] * a[p * k + p];
      for (let q = p + 1; q < k; q++) off += a[p * k + q] * a[p * k + q];
    }
    if (off <= 1e-22 * diag) break;
    for (let p = 0; p < k - 1; p++) {
      for (let q = p + 1; q < k; q++) {
        const apq = a[p * k + q];
        if (Math.abs(apq) < 1e-300) continue;
        const app = a[p * k + p], aqq = a[q * k + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // Rotate rows/columns p and q of a (a stays symmetric).
        for (let r = 0; r < k; r++) {
          const arp = a[r * k + p], arq = a[r * k + q];
          a[r * k + p] = c * arp - s * arq;
          a[r * k + q] = s * arp + c * arq;
        }
        for (let r = 0; r < k; r++) {
          const apr = a[p * k + r], aqr = a[q * k + r];
          a[p * k + r] = c * apr - s * aqr;
          a[q * k + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < k; r++) {
          const vrp = v[r * k + p], vrq = v[r * k + q];
          v[r * k + p] = c * vrp - s * vrq;
          v[r * k + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  const order = [...Array(k).keys()].sort((x, y) => a[y * k + y] - a[x * k + x]);
  const values = new Float64Array(k);
  const vectors = new Float64Array(k * k);
  order.forEach((src, dst) => {
    values[dst] = a[src * k + src];
    for (let r = 0; r < k; r++) vectors[r * k + dst] = v[r * k + src];
  });
  return { values, vectors };
}

/** Orthonormalize the columns of a tall n x k row-major matrix in place (modified Gram-Schmidt on columns). */
export function orthonormalizeColumns(z: Float64Array, n: number, k: number): void {
  // Work on a column-major copy so each column is contiguous.
  const cols = new Float64Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) cols[j * n + i] = z[i * k + j];
  for (let j = 0; j < k; j++) {
    const cj = j * n;
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        const cp = p * n;
        let d = 0;
        for (let i = 0; i < n; i++) d += cols[cp + i] * cols[cj + i];
        for (let i = 0; i < n; i++) cols[cj + i] -= d * cols[cp + i];
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += cols[cj + i] * cols[cj + i];
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < n; i++) cols[cj + i] /= norm;
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) z[i * k + j] = cols[j * n + i];
}
