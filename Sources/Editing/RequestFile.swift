import Foundation
import Yams

/// Reads edit requests from a YAML or JSON file (JSON is read as YAML, which it is a subset of).
///
/// Accepted shapes, each either alone or as a list (or under a top-level `requests:` key):
/// - Locus requests: `subject`, `prompt` (with `{}` or containing the subject), `target_new`,
///   optional `target_true`, `paraphrases`, `neighbours` (or `neighborhood`), `neighbour_answer`,
///   `generation_prompts`, `id`. `target_new`/`target_true` may be strings or `{str: ...}` mappings.
/// - CounterFact records as ROME ships them (`requested_rewrite`, `paraphrase_prompts`, ...).
/// - zsRE records as MEND/EasyEdit ship them (`subject`, `src`, `alt`, `rephrase`, `loc`, `loc_ans`).
///
/// Errors name the file and the 1-based line of the offending entry.
public enum RequestFile {
    public static func load(_ path: String) throws(EditError) -> [EditRequest] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .malformedRequestFile(file: path, line: 0, field: "file", expected: "a readable UTF-8 file", found: "\(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(EditError) -> [EditRequest] {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw EditError.malformedRequestFile(file: file, line: 1, field: "document", expected: "at least one request", found: "an empty file")
            }
            root = node
        } catch let e as EditError {
            throw e
        } catch let YamlError.scanner(_, problem, mark, _) {
            throw .malformedRequestFile(file: file, line: mark.line, field: "syntax", expected: "valid YAML or JSON", found: problem)
        } catch let YamlError.parser(_, problem, mark, _) {
            throw .malformedRequestFile(file: file, line: mark.line, field: "syntax", expected: "valid YAML or JSON", found: problem)
        } catch let YamlError.composer(_, problem, mark, _) {
            throw .malformedRequestFile(file: file, line: mark.line, field: "syntax", expected: "valid YAML or JSON", found: problem)
        } catch {
            throw .malformedRequestFile(file: file, line: 0, field: "syntax", expected: "valid YAML or JSON", found: "\(error)")
        }
        var entries: [Node]
        switch root {
        case .sequence(let s): entries = Array(s)
        case .mapping(let m):
            if let list = m["requests"] {
                guard case .sequence(let s) = list else {
                    throw bad(file, list, "requests", "a list of requests", kind(list))
                }
                entries = Array(s)
            } else {
                entries = [root]
            }
        case .scalar:
            throw bad(file, root, "document", "a request (mapping) or a list of requests", kind(root))
        }
        guard !entries.isEmpty else { throw bad(file, root, "requests", "at least one request", "an empty list") }
        var out: [EditRequest] = []
        for (i, entry) in entries.enumerated() {
            out.append(try request(entry, index: i, file: file))
        }
        return out
    }

    static func line(_ n: Node) -> Int { n.mark?.line ?? 0 }

    static func kind(_ n: Node) -> String {
        switch n {
        case .scalar(let s): return "the scalar '\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    static func bad(_ file: String, _ n: Node, _ field: String, _ expected: String, _ found: String) -> EditError {
        .malformedRequestFile(file: file, line: line(n), field: field, expected: expected, found: found)
    }

    static func request(_ entry: Node, index: Int, file: String) throws(EditError) -> EditRequest {
        guard case .mapping(let m) = entry else {
            throw bad(file, entry, "requests[\(index)]", "a mapping with subject, prompt and target_new", kind(entry))
        }
        let name = (file as NSString).lastPathComponent + ":\(line(entry))"
        func string(_ node: Node?, _ field: String, required: Bool) throws(EditError) -> String? {
            guard let node else {
                if required { throw bad(file, entry, field, "a string", "no such field") }
                return nil
            }
            switch node {
            case .scalar(let s): return s.string
            case .mapping(let mm):
                // CounterFact's {"str": ..., "id": ...}
                if let s = mm["str"], case .scalar(let sc) = s { return sc.string }
                throw bad(file, node, field, "a string or a mapping with str", kind(node))
            default: throw bad(file, node, field, "a string", kind(node))
            }
        }
        func strings(_ node: Node?, _ field: String) throws(EditError) -> [String] {
            guard let node else { return [] }
            switch node {
            case .scalar(let s): return [s.string]
            case .sequence(let seq):
                var out: [String] = []
                for item in seq {
                    guard case .scalar(let s) = item else { throw bad(file, item, field, "a list of strings", kind(item)) }
                    out.append(s.string)
                }
                return out
            default: throw bad(file, node, field, "a list of strings", kind(node))
            }
        }
        func make(_ body: () throws(EditError) -> EditRequest) throws(EditError) -> EditRequest {
            do {
                return try body()
            } catch {
                switch error {
                case .malformedRequestFile: throw error
                default:
                    throw .malformedRequestFile(file: file, line: line(entry), field: "requests[\(index)]", expected: "a valid request", found: error.description)
                }
            }
        }
        // CounterFact (ROME format)
        if let rw = m["requested_rewrite"] {
            guard case .mapping(let r) = rw else { throw bad(file, rw, "requested_rewrite", "a mapping", kind(rw)) }
            let caseID = try string(m["case_id"], "case_id", required: false)
            let subject = try string(r["subject"], "requested_rewrite.subject", required: true)!
            let prompt = try string(r["prompt"], "requested_rewrite.prompt", required: true)!
            let tNew = try string(r["target_new"], "requested_rewrite.target_new", required: true)!
            let tTrue = try string(r["target_true"], "requested_rewrite.target_true", required: false)
            let para = try strings(m["paraphrase_prompts"], "paraphrase_prompts")
            let neigh = try strings(m["neighborhood_prompts"], "neighborhood_prompts")
            let gen = try strings(m["generation_prompts"], "generation_prompts")
            return try make { () throws(EditError) in
                try EditRequest(
                    id: caseID.map { "case \($0)" } ?? name, subject: subject, prompt: prompt, targetNew: tNew,
                    targetTrue: tTrue, paraphrases: para, neighbours: neigh, neighbourAnswer: tTrue, generationPrompts: gen)
            }
        }
        // zsRE (MEND / EasyEdit format)
        if m["src"] != nil, m["alt"] != nil {
            let subject = try string(m["subject"], "subject", required: true)!
            let src = try string(m["src"], "src", required: true)!
            let alt = try string(m["alt"], "alt", required: true)!
            let rephrase = try strings(m["rephrase"], "rephrase")
            let loc = try string(m["loc"], "loc", required: false)
            let locAns = try string(m["loc_ans"], "loc_ans", required: false)
            return try make { () throws(EditError) in
                try EditRequest(
                    id: name, subject: subject, prompt: src, targetNew: alt, paraphrases: rephrase,
                    neighbours: loc.map { [$0 + "?"] } ?? [], neighbourAnswer: locAns)
            }
        }
        // Locus request
        let known: Set<String> = [
            "id", "subject", "prompt", "target_new", "target_true", "paraphrases", "neighbours", "neighbors",
            "neighborhood", "neighbourhood", "neighbour_answer", "generation_prompts",
        ]
        for (k, _) in m {
            guard case .scalar(let key) = k else { continue }
            if !known.contains(key.string) {
                throw bad(file, k, key.string, "one of " + known.sorted().joined(separator: ", "), "an unknown field")
            }
        }
        let id = try string(m["id"], "id", required: false) ?? name
        let subject = try string(m["subject"], "subject", required: true)!
        let prompt = try string(m["prompt"], "prompt", required: true)!
        let tNew = try string(m["target_new"], "target_new", required: true)!
        let tTrue = try string(m["target_true"], "target_true", required: false)
        let para = try strings(m["paraphrases"], "paraphrases")
        var neigh = try strings(m["neighbours"], "neighbours")
        for alt in ["neighbors", "neighborhood", "neighbourhood"] { neigh += try strings(m[alt], alt) }
        let nAns = try string(m["neighbour_answer"], "neighbour_answer", required: false)
        let gen = try strings(m["generation_prompts"], "generation_prompts")
        return try make { () throws(EditError) in
            try EditRequest(
                id: id, subject: subject, prompt: prompt, targetNew: tNew, targetTrue: tTrue, paraphrases: para,
                neighbours: neigh, neighbourAnswer: nAns ?? tTrue, generationPrompts: gen)
        }
    }
}
