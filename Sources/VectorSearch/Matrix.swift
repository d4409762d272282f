import CBLAS

/// A problem with vectors handed to the engine, naming what was wrong and where.
public struct VectorError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A row-major Float32 matrix in one contiguous buffer: row `i` is `storage[i*cols ..< (i+1)*cols]`.
public struct Matrix: Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    public var storage: [Float]

    public init(rows: Int, cols: Int, storage: [Float]) {
        precondition(storage.count == rows * cols, "storage holds \(storage.count) floats, \(rows)×\(cols) needs \(rows * cols)")
        self.rows = rows
        self.cols = cols
        self.storage = storage
    }

    public init(rows: Int, cols: Int) {
        self.init(rows: rows, cols: cols, storage: [Float](repeating: 0, count: rows * cols))
    }

    /// Builds a matrix from vectors, rejecting ragged dimensions and non-finite values
    /// (`name` says which input, e.g. "corpus embeddings").
    public init(vectors: [[Float]], name: String = "vectors") throws(VectorError) {
        guard let first = vectors.first else { throw VectorError("\(name): no vectors") }
        let d = first.count
        guard d > 0 else { throw VectorError("\(name): vectors have no dimensions") }
        var storage: [Float] = []
        storage.reserveCapacity(vectors.count * d)
        for (i, v) in vectors.enumerated() {
            guard v.count == d else { throw VectorError("\(name)[\(i)]: \(v.count) dimensions, expected \(d)") }
            if let j = v.firstIndex(where: { !$0.isFinite }) { throw VectorError("\(name)[\(i)][\(j)]: \(v[j]) is not a finite number") }
            storage.append(contentsOf: v)
        }
        self.init(rows: vectors.count, cols: d, storage: storage)
    }

    /// Row `i` as an array.
    public func row(_ i: Int) -> [Float] { Array(storage[(i * cols)..<((i + 1) * cols)]) }

    /// Scales every row to unit L2 norm (rows of zeros stay zero), so dot products are cosines.
    public mutating func normalizeRows() {
        let c = cols
        storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                let row = UnsafeMutableBufferPointer(rebasing: p[(r * c)..<((r + 1) * c)])
                let norm = Similarity.dot(UnsafeBufferPointer(row), UnsafeBufferPointer(row)).squareRoot()
                if norm > 0 {
                    let inv = 1 / norm
                    for i in row.indices { row[i] *= inv }
                }
            }
        }
    }

    /// The same matrix with unit rows.
    public func normalized() -> Matrix {
        var m = self
        m.normalizeRows()
        return m
    }
}

/// Dot products and cosine similarities.
public enum Similarity {
    /// Dot product with 16-wide SIMD accumulators (what small batches use instead of a BLAS call).
    @inlinable
    public static func dot(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        let n = min(a.count, b.count)
        var acc0 = SIMD16<Float>(repeating: 0)
        var acc1 = SIMD16<Float>(repeating: 0)
        var i = 0
        let pa = UnsafeRawPointer(a.baseAddress!)
        let pb = UnsafeRawPointer(b.baseAddress!)
        while i + 32 <= n {
            acc0 += pa.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) * pb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            acc1 += pa.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self) * pb.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
            i += 32
        }
        var s = (acc0 + acc1).sum()
        while i < n {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }

    /// Cosine of two vectors (0 when either is all zeros).
    public static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                let na = dot(pa, pa).squareRoot()
                let nb = dot(pb, pb).squareRoot()
                return na > 0 && nb > 0 ? dot(pa, pb) / (na * nb) : 0
            }
        }
    }

    /// Cosine of row i of `a` with row i of `b`, for every i: the batched pairwise form the
    /// `similar` assertion uses. A SIMD loop, since pair batches are too small to pay for a GEMM.
    public static func cosinePairs(_ a: Matrix, _ b: Matrix) throws(VectorError) -> [Float] {
        guard a.rows == b.rows else { throw VectorError("pair batches differ in length: \(a.rows) and \(b.rows)") }
        guard a.cols == b.cols else { throw VectorError("embedding dimensions differ: \(a.cols) and \(b.cols)") }
        let na = a.normalized()
        let nb = b.normalized()
        var out = [Float](repeating: 0, count: a.rows)
        let c = a.cols
        na.storage.withUnsafeBufferPointer { pa in
            nb.storage.withUnsafeBufferPointer { pb in
                for i in 0..<a.rows {
                    out[i] = dot(UnsafeBufferPointer(rebasing: pa[(i * c)..<((i + 1) * c)]), UnsafeBufferPointer(rebasing: pb[(i * c)..<((i + 1) * c)]))
                }
            }
        }
        return out
    }

    /// All dot products `a · bᵀ` (rows × rows) with one `cblas_sgemm`; normalise first for cosines.
    public static func matrix(_ a: Matrix, _ b: Matrix) throws(VectorError) -> Matrix {
        var c = Matrix(rows: 0, cols: 0)
        try matrix(a, b, into: &c)
        return c
    }

    /// The same into `c`, reusing its storage when it is large enough (no zero-fill, no page
    /// faults on repeated calls: what a hot loop wants).
    public static func matrix(_ a: Matrix, _ b: Matrix, into c: inout Matrix) throws(VectorError) {
        guard a.cols == b.cols else { throw VectorError("embedding dimensions differ: \(a.cols) and \(b.cols)") }
        var storage = c.storage
        c = Matrix(rows: 0, cols: 0)  // release our reference so `storage` is uniquely owned
        if storage.count != a.rows * b.rows {
            storage = [Float](unsafeUninitializedCapacity: a.rows * b.rows) { _, count in count = a.rows * b.rows }
        }
        gemm(a.storage, rows: a.rows, b.storage, rows: b.rows, dimensions: a.cols, into: &storage)
        c = Matrix(rows: a.rows, cols: b.rows, storage: storage)
    }

    static func gemm(_ a: UnsafeBufferPointer<Float>, rows m: Int, _ b: UnsafeBufferPointer<Float>, rows n: Int, dimensions k: Int, into c: UnsafeMutableBufferPointer<Float>) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a.baseAddress, Int32(k), b.baseAddress, Int32(k), 0, c.baseAddress, Int32(n))
    }

    static func gemm(_ a: [Float], rows m: Int, _ b: [Float], rows n: Int, dimensions k: Int, into c: inout [Float]) {
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in gemm(pa, rows: m, pb, rows: n, dimensions: k, into: pc) }
            }
        }
    }
}
