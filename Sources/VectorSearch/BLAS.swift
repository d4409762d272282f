import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// Stops OpenBLAS's idle worker threads. It starts them when the library loads, and each spins
    /// in `sched_yield` for about 0.1 s of CPU before it sleeps — in a run that does no BLAS at all
    /// (an eval without `similar`) a tenth of a core taken from the run (seen: 8.7% of a warm
    /// re-run's CPU). The next multi-threaded BLAS call starts them again, as after a fork.
    /// Looked up at run time: a single-threaded OpenBLAS build has no such function (and no threads).
    public static func stopIdleThreads() {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "blas_thread_shutdown_") else { return }
        typealias Shutdown = @convention(c) () -> Int32
        _ = unsafeBitCast(symbol, to: Shutdown.self)()
    }

    /// `C = A · Bᵀ` for row-major Float32 matrices A (m×k) and B (n×k): all pairwise dot products.
    public static func dotProducts(_ a: [Float], rows m: Int, _ b: [Float], rows n: Int, dimensions k: Int) -> [Float] {
        precondition(a.count == m * k && b.count == n * k, "matrix sizes do not match")
        var c = [Float](repeating: 0, count: m * n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k), 0, &c, Int32(n))
        return c
    }
}
