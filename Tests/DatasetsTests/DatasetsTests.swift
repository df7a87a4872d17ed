import Datasets
import XCTest

final class DatasetsTests: XCTestCase {
    func testShippedFilesLoad() throws {
        let known = try Datasets.knownFacts()
        XCTAssertEqual(known.count, 1209)
        XCTAssertEqual(known[0].prompt, "Vinson Massif is located in the continent of")
        let cf = try Datasets.counterFact()
        XCTAssertEqual(cf.count, 1373)
        XCTAssertTrue(cf.allSatisfy { $0.requestedRewrite.prompt.contains("{}") })
        XCTAssertEqual(try Datasets.zsRE().count, 1037)
        XCTAssertGreaterThan(try Datasets.wikiText().count, 1_000_000)
    }

    func testMalformedFileNamesFieldAndFile() throws {
        let p = NSTemporaryDirectory() + "bad-cf-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: p) }
        try Data(#"[{"case_id": 1, "paraphrase_prompts": [], "neighborhood_prompts": []}]"#.utf8).write(to: URL(fileURLWithPath: p))
        XCTAssertThrowsError(try Datasets.counterFact(path: p)) { e in
            XCTAssertTrue("\(e)".contains("requested_rewrite"), "\(e)")
            XCTAssertTrue("\(e)".contains(p))
        }
    }
}
