import Foundation
import ModelStore
import XCTest

final class ModelCacheTests: XCTestCase {
    func testResolveNamesAndPaths() throws {
        let root = NSTemporaryDirectory() + "locus-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cache = ModelCache(root: root)
        XCTAssertThrowsError(try cache.resolve("smollm2")) { XCTAssertTrue("\($0)".contains("locus fetch smollm2")) }
        XCTAssertThrowsError(try cache.resolve("/no/such/model.gguf")) { XCTAssertTrue("\($0)".contains("smollm2, gemma3")) }
        let p = cache.path(of: .smollm2)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: p, contents: Data())
        XCTAssertEqual(try cache.resolve("smollm2"), p)
        XCTAssertEqual(try cache.resolve(p), p)
    }

    func testSHA256OfKnownBytes() throws {
        let p = NSTemporaryDirectory() + "locus-hash-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: p) }
        try Data("abc".utf8).write(to: URL(fileURLWithPath: p))
        XCTAssertEqual(try FileHash.sha256(path: p), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testKnownModelsAreConsistent() {
        for m in KnownModel.all {
            XCTAssertEqual(m.sha256.count, 64)
            XCTAssertGreaterThanOrEqual(m.requirements.count, m.members.count)
            XCTAssertTrue(m.requirements.allSatisfy { $0.contains("==") }, "versions are pinned")
        }
    }
}
