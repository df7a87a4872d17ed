import ArrayStore
import Foundation

/// Where a long evaluation keeps its progress, so that a run that is interrupted (a session that
/// ends, a machine that restarts) continues where it stopped instead of starting again.
///
/// The folder is written append-only, so a save costs what was done since the last one (a run of
/// 10,000 sequential edits does not rewrite its first 9,000 at every save). Each file is written
/// to a temporary name and renamed:
/// - `start.h5`: the run's settings and what it measured before editing (the scores before, the
///   canary perplexity), written once;
/// - `part-000001.h5`, `part-000002.h5`, …: one per save, each holding the ledger entries kept since
///   the part before (`edits/NNNNNN`, numbered in the whole run, in the `Ledger` layout) and, as a
///   JSON attribute, what was measured since (scores, times, perplexities) with the run's counts;
///   a part holds its edits and its progress together, so a run stopped anywhere resumes from the
///   last part that landed;
/// - `alphaedit-000NNN.h5`: AlphaEdit's `C_prev` after part N (a fixed-size state, not a log), written
///   before part N; earlier ones are removed once part N is in place. Without it for the last part,
///   `C_prev` is recomputed from the edits.
public struct EvaluationCheckpoint: Sendable {
    public var directory: String
    /// Save after at least this many edits since the last save (and always at a perplexity
    /// checkpoint and at the end).
    public var every: Int

    public init(directory: String, every: Int = 25) {
        self.directory = directory
        self.every = max(1, every)
    }

    public var startPath: String { directory + "/start.h5" }
    func partPath(_ n: Int) -> String { directory + String(format: "/part-%06d.h5", n) }
    func previousKeysPath(_ n: Int) -> String { directory + String(format: "/alphaedit-%06d.h5", n) }
    static let format = "locus-evaluation-progress"
    static let formatVersion: Int64 = 2
}

/// What an evaluation run is: a checkpoint is resumed only by a run with the same settings.
struct EvaluationSettings: Codable, Equatable {
    var dataset: String
    var method: EditMethod
    var batch: Int
    var sequential: Bool
    var perplexity: Bool
    var checkpointEvery: Int?
    var generationPrompts: Int
    /// The canary's token count and an FNV-1a checksum of its tokens.
    var canary: String
    var modelSHA256: String
    var hyperparameters: MethodHyperparameters
    /// The ids of the records, in order.
    var requests: [String]
}

/// Everything an evaluation has measured so far.
struct EvaluationProgress: Codable {
    var settings: EvaluationSettings
    /// Requests handled (edited, or recorded as not edited).
    var done = 0
    /// Ledger entries that belong to this progress (sequential runs).
    var ledgerEntries = 0
    var cfBefore: [CounterFactScores] = []
    var zBefore: [ZSREScores] = []
    var perplexityBefore: Double?
    var cfAfter: [CounterFactScores] = []
    var zAfter: [ZSREScores] = []
    var times: [Double] = []
    var failures: [String] = []
    var notEdited: [String] = []
    var perplexities: [Double] = []
    var trajectory: [PerplexityPoint] = []
    /// Seconds spent in earlier runs of this evaluation.
    var earlierSeconds = 0.0

    init(settings: EvaluationSettings) { self.settings = settings }
}

/// What one save adds to the progress before it: the counts as they now are and the measurements
/// made since (each array's new tail).
struct EvaluationProgressPart: Codable {
    var done: Int
    var ledgerEntries: Int
    var earlierSeconds: Double
    var cfAfter: [CounterFactScores]
    var zAfter: [ZSREScores]
    var times: [Double]
    var failures: [String]
    var notEdited: [String]
    var perplexities: [Double]
    var trajectory: [PerplexityPoint]

    /// What `now` holds beyond `before` (whose arrays are prefixes of `now`'s).
    init(_ now: EvaluationProgress, since before: EvaluationProgress) {
        done = now.done
        ledgerEntries = now.ledgerEntries
        earlierSeconds = now.earlierSeconds
        cfAfter = Array(now.cfAfter.dropFirst(before.cfAfter.count))
        zAfter = Array(now.zAfter.dropFirst(before.zAfter.count))
        times = Array(now.times.dropFirst(before.times.count))
        failures = Array(now.failures.dropFirst(before.failures.count))
        notEdited = Array(now.notEdited.dropFirst(before.notEdited.count))
        perplexities = Array(now.perplexities.dropFirst(before.perplexities.count))
        trajectory = Array(now.trajectory.dropFirst(before.trajectory.count))
    }

    func apply(to p: inout EvaluationProgress) {
        p.done = done
        p.ledgerEntries = ledgerEntries
        p.earlierSeconds = earlierSeconds
        p.cfAfter += cfAfter
        p.zAfter += zAfter
        p.times += times
        p.failures += failures
        p.notEdited += notEdited
        p.perplexities += perplexities
        p.trajectory += trajectory
    }
}

/// What a checkpoint folder holds when a run resumes from it.
struct ResumedEvaluation {
    var progress: EvaluationProgress
    /// The edits of every part, in order (sequential runs).
    var entries: [LedgerEntry]
    /// AlphaEdit's `C_prev` after the last part; nil when it must be recomputed from `entries`.
    var previousKeys: [Int: [Float]]?
    /// Parts read (the next save writes part `parts + 1`).
    var parts: Int
}

/// Where a run stands in its checkpoint folder: what was saved last, to write the next part.
struct CheckpointCursor {
    var saved: EvaluationProgress
    var parts: Int
}

extension EvaluationCheckpoint {
    /// The saved run, if any, after checking it belongs to a run with `settings`.
    func load(expecting settings: EvaluationSettings, modelSHA256: String) throws(EditError) -> ResumedEvaluation? {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory + "/progress.h5") && !fm.fileExists(atPath: startPath) {
            throw .checkpointMismatch(
                file: directory + "/progress.h5", field: "format_version",
                expected: "\(Self.formatVersion) (start.h5 and append-only parts; this folder was written by an earlier Locus: resume it with that version or start in a new folder)",
                found: "1")
        }
        guard fm.fileExists(atPath: startPath) else { return nil }
        var p: EvaluationProgress = try Self.readProgress(startPath)
        try Self.compare(p.settings, settings, file: startPath)
        let names = ((try? fm.contentsOfDirectory(atPath: directory)) ?? [])
        let partNumbers = names.compactMap { Self.number(of: $0, prefix: "part-") }.sorted()
        if let gap = partNumbers.enumerated().first(where: { $0.offset + 1 != $0.element }) {
            throw .checkpointMismatch(
                file: partPath(gap.offset + 1), field: "file", expected: "parts numbered 1…\(partNumbers.count) without a gap",
                found: "no such file (next is \((partPath(gap.element) as NSString).lastPathComponent))")
        }
        var entries: [LedgerEntry] = []
        for n in partNumbers {
            let path = partPath(n)
            do {
                let f = try H5File.open(path)
                let part: EvaluationProgressPart = try Self.decodeAttribute(f, path)
                let new = try Ledger.entries(in: f, file: path)
                guard entries.count + new.count == part.ledgerEntries else {
                    throw EditError.checkpointMismatch(
                        file: path, field: "edits", expected: "\(part.ledgerEntries - entries.count) edits (its progress says so)", found: "\(new.count)")
                }
                entries += new
                part.apply(to: &p)
            } catch let e as EditError {
                throw e
            } catch {
                throw .storage(file: path, reason: "\(error)")
            }
        }
        var keys: [Int: [Float]]? = entries.contains(where: { $0.method == .alphaedit }) ? nil : [:]
        let last = partNumbers.last ?? 0
        if keys == nil, fm.fileExists(atPath: previousKeysPath(last)) {
            do {
                keys = try Ledger.previousKeys(in: try H5File.open(previousKeysPath(last)))
            } catch {
                throw .storage(file: previousKeysPath(last), reason: "\(error)")
            }
        }
        // A state written for a part that never landed.
        for n in names.compactMap({ Self.number(of: $0, prefix: "alphaedit-") }) where n != last { try? fm.removeItem(atPath: previousKeysPath(n)) }
        return ResumedEvaluation(progress: p, entries: entries, previousKeys: keys, parts: last)
    }

    /// Writes `start.h5` (the settings and the scores before editing).
    func start(_ progress: EvaluationProgress) throws(EditError) -> CheckpointCursor {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .storage(file: directory, reason: "cannot create the checkpoint folder: \(error)")
        }
        try Self.write(startPath, kind: "start", progress.settings, Ledger.json(progress)) { _ in }
        return CheckpointCursor(saved: progress, parts: 0)
    }

    /// Appends a part with what `progress` holds beyond the last save and the ledger entries past
    /// those already saved (AlphaEdit's `C_prev` first, in its own file).
    func append(_ progress: EvaluationProgress, ledger: Ledger, cursor: inout CheckpointCursor) throws(EditError) {
        let n = cursor.parts + 1
        let part = EvaluationProgressPart(progress, since: cursor.saved)
        let newEntries = ledger.entries[cursor.saved.ledgerEntries..<progress.ledgerEntries]
        let keys = ledger.entries.prefix(progress.ledgerEntries).contains(where: { $0.method == .alphaedit }) ? ledger.alphaEditPreviousKeys : [:]
        if !keys.isEmpty {
            try Self.write(previousKeysPath(n), kind: "alphaedit_previous_keys", progress.settings, nil) { f in
                try Ledger.write(previousKeys: keys, to: f)
            }
        }
        try Self.write(partPath(n), kind: "part", progress.settings, Ledger.json(part)) { f in
            try Ledger.write(newEntries, numberedFrom: cursor.saved.ledgerEntries, to: f)
        }
        if !keys.isEmpty { try? FileManager.default.removeItem(atPath: previousKeysPath(n - 1)) }
        cursor = CheckpointCursor(saved: progress, parts: n)
    }

    /// Names the first setting that differs.
    static func compare(_ saved: EvaluationSettings, _ now: EvaluationSettings, file: String) throws(EditError) {
        func differ<T: Equatable>(_ field: String, _ a: T, _ b: T) throws(EditError) {
            if a != b { throw .checkpointMismatch(file: file, field: field, expected: "\(b) (this run)", found: "\(a)") }
        }
        try differ("settings.model_sha256", saved.modelSHA256, now.modelSHA256)
        try differ("settings.dataset", saved.dataset, now.dataset)
        try differ("settings.method", saved.method.rawValue, now.method.rawValue)
        try differ("settings.batch", saved.batch, now.batch)
        try differ("settings.sequential", saved.sequential, now.sequential)
        try differ("settings.perplexity", saved.perplexity, now.perplexity)
        try differ("settings.checkpoint_every", saved.checkpointEvery.map(String.init) ?? "none", now.checkpointEvery.map(String.init) ?? "none")
        try differ("settings.generation_prompts", saved.generationPrompts, now.generationPrompts)
        try differ("settings.canary", saved.canary, now.canary)
        try differ("settings.hyperparameters", Ledger.json(saved.hyperparameters), Ledger.json(now.hyperparameters))
        try differ("settings.requests.count", saved.requests.count, now.requests.count)
        if let i = saved.requests.indices.first(where: { saved.requests[$0] != now.requests[$0] }) {
            try differ("settings.requests[\(i)]", saved.requests[i], now.requests[i])
        }
    }

    // MARK: files

    /// `part-000012.h5` → 12 (for `prefix` "part-").
    static func number(of name: String, prefix: String) -> Int? {
        guard name.hasPrefix(prefix), name.hasSuffix(".h5") else { return nil }
        return Int(name.dropFirst(prefix.count).dropLast(3))
    }

    static func write(_ path: String, kind: String, _ settings: EvaluationSettings, _ progress: String?, _ body: (H5File) throws -> Void) throws(EditError) {
        do {
            try H5File.write(path) { f in
                var a: [String: AttributeValue] = [
                    "format": .string(format), "format_version": .int(formatVersion), "kind": .string(kind), "created_by": .string("locus eval"),
                    "model_sha256": .string(settings.modelSHA256), "method": .string(settings.method.rawValue),
                    "records": .int(Int64(settings.requests.count)),
                ]
                if let progress { a["progress"] = .string(progress) }
                try f.setAttributes(a)
                try body(f)
            }
        } catch {
            throw .storage(file: path, reason: "\(error)")
        }
    }

    static func readProgress(_ path: String) throws(EditError) -> EvaluationProgress {
        do {
            return try decodeAttribute(try H5File.open(path), path)
        } catch let e as EditError {
            throw e
        } catch {
            throw .storage(file: path, reason: "\(error)")
        }
    }

    /// The `progress` JSON attribute of a checkpoint file, after checking its format.
    static func decodeAttribute<T: Decodable>(_ f: H5File, _ path: String) throws -> T {
        let a = try f.attributes()
        guard a["format"] == .string(format) else {
            throw EditError.checkpointMismatch(file: path, field: "format", expected: format, found: a["format"]?.description ?? "none")
        }
        guard a["format_version"] == .int(formatVersion) else {
            throw EditError.checkpointMismatch(file: path, field: "format_version", expected: "\(formatVersion)", found: a["format_version"]?.description ?? "none")
        }
        guard case .string(let json)? = a["progress"] else {
            throw EditError.checkpointMismatch(file: path, field: "progress", expected: "a JSON string attribute", found: "none")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(json.utf8))
        } catch {
            throw EditError.checkpointMismatch(file: path, field: "progress", expected: "the JSON of \(T.self)", found: "\(error)")
        }
    }
}
