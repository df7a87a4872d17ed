import Foundation
import XCTest

@testable import Editing

/// Request files (YAML, JSON, CounterFact and zsRE records) and their typed errors.
final class RequestTests: XCTestCase {
    func testLocusYAMLRequests() throws {
        let yaml = """
            - subject: Eiffel Tower
              prompt: The Eiffel Tower is located in
              target_new: Rome
              target_true: Paris
              paraphrases: [The Eiffel Tower stands in]
              neighbours: [The Louvre is located in]
            - subject: Danielle Darrieux
              prompt: "The mother tongue of {} is"
              target_new: {str: English}
            """
        let rs = try RequestFile.parse(yaml, file: "e.yaml")
        XCTAssertEqual(rs.count, 2)
        XCTAssertEqual(rs[0].prompt, "The {} is located in")
        XCTAssertEqual(rs[0].filledPrompt, "The Eiffel Tower is located in")
        XCTAssertEqual(rs[0].neighbourAnswer, "Paris")
        XCTAssertEqual(rs[0].id, "e.yaml:1")
        XCTAssertEqual(rs[1].targetNew, "English")
        XCTAssertEqual(rs[1].id, "e.yaml:7")
    }

    func testCounterFactAndZSRERecordsAsIs() throws {
        let cf = """
            [{"case_id": 18, "requested_rewrite": {"prompt": "{}, created by", "relation_id": "P176",
              "target_new": {"str": "Honda", "id": "Q9584"}, "target_true": {"str": "Porsche", "id": "Q40993"},
              "subject": "Porsche 911"}, "paraphrase_prompts": ["Porsche 911 is developed by"],
              "neighborhood_prompts": ["Porsche 550, developed by"], "generation_prompts": ["Porsche 911 is sold by"]}]
            """
        let r = try RequestFile.parse(cf, file: "cf.json")
        XCTAssertEqual(r[0].id, "case 18")
        XCTAssertEqual(r[0].targetTrue, "Porsche")
        XCTAssertEqual(r[0].paraphrases, ["Porsche 911 is developed by"])
        let z = """
            {"subject": "IAAF Combined Events Challenge", "src": "When was the inception of IAAF Combined Events Challenge?",
             "alt": "2006", "answers": ["1998"], "rephrase": "When was the IAAF Combined Events Challenge launched?",
             "loc": "nq question: what is the name of the last episode of spongebob", "loc_ans": "The String"}
            """
        let q = try RequestFile.parse(z, file: "z.json")
        XCTAssertEqual(q[0].prompt, "When was the inception of {}?")
        XCTAssertEqual(q[0].targetNew, "2006")
        XCTAssertEqual(q[0].neighbours, ["nq question: what is the name of the last episode of spongebob?"])
        XCTAssertEqual(q[0].neighbourAnswer, "The String")
    }

    func testMalformedFilesNameTheLine() {
        func error(_ text: String) -> EditError? {
            do {
                _ = try RequestFile.parse(text, file: "bad.yaml")
                return nil
            } catch { return error as? EditError }
        }
        // Syntax error on line 3.
        guard case .malformedRequestFile(_, let l1, let f1, _, _)? = error("- subject: a\n  prompt: b {}\n  target_new: x: y\n") else {
            return XCTFail("syntax error not reported")
        }
        XCTAssertEqual(l1, 3)
        XCTAssertEqual(f1, "syntax")
        // Missing target_new in the second request (line 4).
        let missing = error("- subject: a\n  prompt: '{} is'\n  target_new: x\n- subject: b\n  prompt: '{} is'\n")
        XCTAssertEqual(missing, .malformedRequestFile(file: "bad.yaml", line: 4, field: "target_new", expected: "a string", found: "no such field"))
        // Unknown field, on its own line.
        guard case .malformedRequestFile(_, let l3, let f3, _, _)? = error("subject: a\nprompt: '{} is'\ntarget_new: x\ntarget_nwe: y\n") else {
            return XCTFail("unknown field not reported")
        }
        XCTAssertEqual(l3, 4)
        XCTAssertEqual(f3, "target_nwe")
    }

    func testRequestErrors() {
        XCTAssertThrowsError(try EditRequest(id: "r", subject: "Paris", prompt: "The capital of France is", targetNew: "Rome")) {
            XCTAssertEqual($0 as? EditError, .subjectNotInPrompt(request: "r", subject: "Paris", prompt: "The capital of France is"))
        }
        XCTAssertThrowsError(try EditRequest(id: "r", subject: "Eiffel Tower", prompt: "{} is in", targetNew: "  ")) {
            XCTAssertEqual($0 as? EditError, .emptyTarget(request: "r"))
        }
        XCTAssertThrowsError(try EditRequest(id: "r", subject: "Eiffel Tower", prompt: "{} is in", targetNew: "Paris", targetTrue: " Paris")) {
            XCTAssertEqual($0 as? EditError, .targetEqualsCurrentAnswer(request: "r", target: "Paris", currentAnswer: " Paris"))
        }
        // Through a file, the request error carries the line.
        do {
            _ = try RequestFile.parse("subject: Paris\nprompt: The capital of France is\ntarget_new: Rome\n", file: "f.yaml")
            XCTFail("no error")
        } catch let e as EditError {
            guard case .malformedRequestFile(_, let line, _, _, let found) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(line, 1)
            XCTAssertTrue(found.contains("prompt"), found)
        } catch { XCTFail("\(error)") }
    }

    func testShippedHyperparameters() throws {
        let (path, file) = try HyperparameterFile.shipped(forModel: ["SmolLM2-135M-Instruct.Q4_1.gguf"])
        XCTAssertTrue(path.hasSuffix("smollm2.json"))
        let rome = try XCTUnwrap(file.rome)
        XCTAssertEqual(rome.layers, [5])
        XCTAssertEqual(rome.steps, 25)
        XCTAssertEqual(rome.learningRate, 0.5)
        XCTAssertEqual(rome.weightDecay, 1e-3)
        XCTAssertEqual(rome.clampNormFactor, 4)
        XCTAssertEqual(rome.klFactor, 0.0625)
        XCTAssertEqual(rome.mom2Tokens, 100_000)
        XCTAssertEqual(file.memit?.layers, [4, 5, 6, 7, 8])
        try rome.validate(method: .rome, layerCount: 30)
        XCTAssertThrowsError(try HyperparameterFile.shipped(forModel: ["mystery.gguf"]))
    }
}
