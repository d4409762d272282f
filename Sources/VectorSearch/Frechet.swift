import CBLAS

/// Fréchet distance between two sets of embeddings, each modelled as a Gaussian (the FID
/// formula): `|μ₁−μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^½`. The matrix square root comes from
/// LAPACK's symmetric eigensolver: `tr (Σ₁Σ₂)^½ = tr (Σ₁^½ Σ₂ Σ₁^½)^½`, whose argument is symmetric
/// positive semi-definite. Computed in Float64.
public enum FrechetDistance {
    public static func between(_ a: Matrix, _ b: Matrix) throws(VectorError) -> Double {
        guard a.cols == b.cols else { throw VectorError("embedding dimensions differ: \(a.cols) and \(b.cols)") }
        guard a.rows >= 2, b.rows >= 2 else { throw VectorError("each set needs at least 2 embeddings for a covariance") }
        let d = a.cols
        let (mu1, cov1) = moments(a)
        let (mu2, cov2) = moments(b)
        var meanTerm = 0.0
        for i in 0..<d { meanTerm += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) }
        var trace = 0.0
        for i in 0..<d { trace += cov1[i * d + i] + cov2[i * d + i] }
        let root1 = try symmetricSqrt(cov1, d)
        // M = Σ₁^½ Σ₂ Σ₁^½
        var tmp = [Double](repeating: 0, count: d * d)
        var m = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1, root1, Int32(d), cov2, Int32(d), 0, &tmp, Int32(d))
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1, tmp, Int32(d), root1, Int32(d), 0, &m, Int32(d))
        let eig = try eigenvalues(&m, d, vectors: false)
        let traceRoot = eig.reduce(0) { $0 + max($1, 0).squareRoot() }
        return max(0, meanTerm + trace - 2 * traceRoot)
    }

    /// Column means and the sample covariance (n − 1), row-major d×d.
    static func moments(_ x: Matrix) -> ([Double], [Double]) {
        let n = x.rows
        let d = x.cols
        var mu = [Double](repeating: 0, count: d)
        for r in 0..<n {
            for c in 0..<d { mu[c] += Double(x.storage[r * d + c]) }
        }
        for c in 0..<d { mu[c] /= Double(n) }
        var centered = [Double](repeating: 0, count: n * d)
        for r in 0..<n {
            for c in 0..<d { centered[r * d + c] = Double(x.storage[r * d + c]) - mu[c] }
        }
        var cov = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(n), 1 / Double(n - 1), centered, Int32(d), centered, Int32(d), 0, &cov, Int32(d))
        return (mu, cov)
    }

    /// Eigenvalues (and, with `vectors`, eigenvectors in the columns of `a`) of a symmetric matrix.
    static func eigenvalues(_ a: inout [Double], _ d: Int, vectors: Bool) throws(VectorError) -> [Double] {
        var w = [Double](repeating: 0, count: d)
        let info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, vectors ? 86 /* V */ : 78 /* N */, 85 /* U */, Int32(d), &a, Int32(d), &w)
        guard info == 0 else { throw VectorError("the eigensolver did not converge (LAPACKE_dsyev info \(info))") }
        return w
    }

    /// Σ^½ = V diag(√λ) Vᵀ for symmetric positive semi-definite Σ (negative rounding noise clamped).
    static func symmetricSqrt(_ sigma: [Double], _ d: Int) throws(VectorError) -> [Double] {
        var v = sigma
        let w = try eigenvalues(&v, d, vectors: true)
        var scaled = v
        for r in 0..<d {
            for c in 0..<d { scaled[r * d + c] *= max(w[c], 0).squareRoot() }
        }
        var out = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(d), Int32(d), Int32(d), 1, scaled, Int32(d), v, Int32(d), 0, &out, Int32(d))
        return out
    }
}
