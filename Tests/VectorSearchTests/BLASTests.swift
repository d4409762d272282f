import Testing
@testable import VectorSearch

@Suite struct BLASTests {
    @Test func openBLASIsTheLinkedImplementation() {
        // The reference BLAS has no openblas_get_corename; a fallback would not even link.
        #expect(!BLAS.coreName.isEmpty && BLAS.coreName != "unknown")
    }

    @Test func sgemmComputesPairwiseDotProducts() {
        let a: [Float] = [1, 0, 2, 0, 1, 0]  // 2 × 3
        let b: [Float] = [1, 1, 1, 2, 0, 1, 0, 3, 0]  // 3 × 3
        #expect(BLAS.dotProducts(a, rows: 2, b, rows: 3, dimensions: 3) == [3, 4, 0, 1, 0, 3])
    }
}
