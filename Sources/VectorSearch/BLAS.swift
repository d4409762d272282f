import CBLAS

/// The linked BLAS. The vector engine (issue 4) builds on this; for now it proves that OpenBLAS,
/// not the 50-100x slower reference BLAS, is what the binary links.
public enum BLAS {
    /// OpenBLAS's name for the kernel it selected (e.g. `SkylakeX`, `Haswell`).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Threads OpenBLAS uses for one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// `C = A · Bᵀ` for row-major Float32 matrices A (m×k) and B (n×k): all pairwise dot products.
    public static func dotProducts(_ a: [Float], rows m: Int, _ b: [Float], rows n: Int, dimensions k: Int) -> [Float] {
        precondition(a.count == m * k && b.count == n * k, "matrix sizes do not match")
        var c = [Float](repeating: 0, count: m * n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k), 0, &c, Int32(n))
        return c
    }
}
