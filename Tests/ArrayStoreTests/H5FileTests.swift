import ArrayStore
import Foundation
import Tensors
import XCTest

final class H5FileTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "locus-h5-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testRoundTripWithAttributesAndGroups() throws {
        let path = dir + "/cache.h5"
        let t = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, -6.5])
        try H5File.write(path) { f in
            try f.write(t, at: "activations/blocks.3.hook_resid_pre", attributes: ["hook": .string("blocks.3.hook_resid_pre"), "layer": .int(3)])
            try f.write(doubles: [1, 2, 3, 4], shape: [2, 2], at: "stats/C", attributes: ["tokens": .double(1e5)])
            try f.write(integers: [7, 8, 9], shape: [3], at: "prompt_ids")
            try f.setAttributes(["model_sha256": .string("abc")])
        }
        let f = try H5File.open(path)
        XCTAssertEqual(try f.readTensor("activations/blocks.3.hook_resid_pre"), t)
        XCTAssertEqual(try f.readDoubles("stats/C").values, [1, 2, 3, 4])
        XCTAssertEqual(try f.readIntegers("prompt_ids").values, [7, 8, 9])
        let a = try f.attributes(of: "activations/blocks.3.hook_resid_pre")
        XCTAssertEqual(a["hook"], .string("blocks.3.hook_resid_pre"))
        XCTAssertEqual(a["layer"], .int(3))
        XCTAssertEqual(try f.attributes(of: "stats/C")["tokens"], .double(1e5))
        XCTAssertEqual(try f.attributes()["model_sha256"], .string("abc"))
        XCTAssertEqual(try f.children(of: "/").sorted(), ["activations", "prompt_ids", "stats"])
        XCTAssertTrue(f.exists("stats/C"))
        XCTAssertFalse(f.exists("stats/D"))
        XCTAssertThrowsError(try f.readTensor("missing"))
    }

    /// Arrays, UTF-8 strings and the stamp every file gets: what h5py reads back as int64 arrays and `str`.
    func testArrayAndUTF8AttributesAndTheWritersStamp() throws {
        let path = dir + "/a.h5"
        try H5File.write(path) { f in
            try f.write(integers: [1], shape: [1], at: "x")
            try f.setAttributes([
                "ids": .integers([1, 2, 3, 4, 5, 6], shape: [2, 3]), "tokens": .strings(["The", " Eiffel", " Tour é"]),
                "name": .string("München ✓"), "empty": .strings([]),
            ], on: "x")
            try f.setAttributes(["name": .string("replaced")], on: "x")
        }
        let f = try H5File.open(path)
        let a = try f.attributes(of: "x")
        XCTAssertEqual(a["ids"], .integers([1, 2, 3, 4, 5, 6], shape: [2, 3]))
        XCTAssertEqual(a["tokens"], .strings(["The", " Eiffel", " Tour é"]))
        XCTAssertEqual(a["name"], .string("replaced"))
        XCTAssertEqual(a["empty"], .strings([]))
        let root = try f.attributes()
        XCTAssertEqual(root["locus_version"], .string(LocusVersion.string))
        guard case .string(let command)? = root["command"] else { return XCTFail("no command attribute") }
        XCTAssertTrue(command.contains(CommandLine.arguments[0]), command)
    }

    /// The earliest HDF5 format refuses attributes over 64 KiB; files are written in the 1.8+ format,
    /// which stores them densely (a ledger entry of 1,000 requests, an evaluation's progress).
    func testAttributesLargerThan64KiB() throws {
        let path = dir + "/large.h5"
        let text = String(repeating: "{\"case_id\": 12345, \"prompt\": \"{} is located in\"} ", count: 8000)
        XCTAssertGreaterThan(text.utf8.count, 300_000)
        try H5File.write(path) { f in
            try f.createGroup("edits")
            try f.setAttributes(["requests": .string(text)], on: "edits")
            try f.setAttributes(["progress": .string(text + "root")])
        }
        let f = try H5File.open(path)
        XCTAssertEqual(try f.attributes(of: "edits")["requests"], .string(text))
        XCTAssertEqual(try f.attributes()["progress"], .string(text + "root"))
    }

    func testFailedWriteLeavesNothingAndKeepsOldFile() throws {
        let path = dir + "/x.h5"
        try H5File.write(path) { f in try f.write(Tensor(shape: [1], data: [42]), at: "a") }
        struct Boom: Error {}
        XCTAssertThrowsError(try H5File.write(path) { f in
            try f.write(Tensor(shape: [1], data: [0]), at: "a")
            throw Boom()
        })
        XCTAssertEqual(try H5File.open(path).readTensor("a").data, [42])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    func testOpeningGarbageIsAnError() throws {
        let path = dir + "/junk.h5"
        try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try H5File.open(path)) { XCTAssertTrue("\($0)".contains("junk.h5")) }
        XCTAssertThrowsError(try H5File.open(dir + "/none.h5"))
    }
}
