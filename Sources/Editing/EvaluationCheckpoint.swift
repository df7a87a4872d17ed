import ArrayStore
import Foundation

/// Where a long evaluation keeps its progress, so that a run that is interrupted (a session that
/// ends, a machine that restarts) continues where it stopped instead of starting again.
///
/// The folder holds two HDF5 files, each written to a temporary name and renamed:
/// - `ledger.h5`: the edits kept so far (a sequential run's weights are the model file's with these
///   replayed, bit for bit; AlphaEdit's `C_prev` included), in the `Ledger` format;
/// - `progress.h5`: the run's settings (attributes) and what it has measured so far (the scores
///   before editing, the scores, perplexities and times of the batches done), as JSON attributes.
///
/// The ledger is written first and the progress names how many ledger entries it covers, so a run
/// stopped between the two writes resumes from the progress and drops the extra entry.
public struct EvaluationCheckpoint: Sendable {
    public var directory: String
    /// Save after at least this many edits since the last save (and always at a perplexity
    /// checkpoint and at the end).
    public var every: Int

    public init(directory: String, every: Int = 25) {
        self.directory = directory
        self.every = max(1, every)
    }

    public var progressPath: String { directory + "/progress.h5" }
    public var ledgerPath: String { directory + "/ledger.h5" }
    static let format = "locus-evaluation-progress"
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
    var hyperparameters: EditHyperparameters
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

extension EvaluationCheckpoint {
    /// The saved progress, if any, after checking it belongs to a run with `settings`.
    func load(expecting settings: EvaluationSettings) throws(EditError) -> EvaluationProgress? {
        guard FileManager.default.fileExists(atPath: progressPath) else { return nil }
        let p: EvaluationProgress
        do {
            let f = try H5File.open(progressPath)
            let a = try f.attributes()
            guard a["format"] == .string(Self.format) else {
                throw EditError.checkpointMismatch(file: progressPath, field: "format", expected: Self.format, found: a["format"]?.description ?? "none")
            }
            guard case .string(let json)? = a["progress"] else {
                throw EditError.checkpointMismatch(file: progressPath, field: "progress", expected: "a JSON string attribute", found: "none")
            }
            p = try JSONDecoder().decode(EvaluationProgress.self, from: Data(json.utf8))
        } catch let e as EditError {
            throw e
        } catch {
            throw .storage(file: progressPath, reason: "\(error)")
        }
        try Self.compare(p.settings, settings, file: progressPath)
        return p
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

    /// Writes the ledger, then the progress (each to a temporary name, then renamed).
    func save(_ progress: EvaluationProgress, ledger: Ledger) throws(EditError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .storage(file: directory, reason: "cannot create the checkpoint folder: \(error)")
        }
        try ledger.save(to: ledgerPath)
        do {
            try H5File.write(progressPath) { f in
                try f.setAttributes([
                    "format": .string(Self.format), "format_version": .int(1), "created_by": .string("locus eval"),
                    "model_sha256": .string(progress.settings.modelSHA256), "method": .string(progress.settings.method.rawValue),
                    "done": .int(Int64(progress.done)), "records": .int(Int64(progress.settings.requests.count)),
                    "progress": .string(Ledger.json(progress)),
                ])
            }
        } catch {
            throw .storage(file: progressPath, reason: "\(error)")
        }
    }

    /// The saved ledger, cut to the entries `progress` covers (`cut`: entries were dropped).
    func ledger(for progress: EvaluationProgress, modelSHA256: String) throws(EditError) -> (ledger: Ledger, cut: Bool)? {
        guard progress.ledgerEntries > 0 else { return nil }
        guard FileManager.default.fileExists(atPath: ledgerPath) else {
            throw .checkpointMismatch(file: ledgerPath, field: "edits", expected: "\(progress.ledgerEntries) edits (progress.h5 says so)", found: "no ledger")
        }
        var l = try Ledger.load(ledgerPath, modelSHA256: modelSHA256)
        guard l.entries.count >= progress.ledgerEntries else {
            throw .checkpointMismatch(
                file: ledgerPath, field: "edit_count", expected: "at least \(progress.ledgerEntries) (progress.h5 says so)", found: "\(l.entries.count)")
        }
        let cut = l.entries.count > progress.ledgerEntries
        // Stopped after the ledger was written and before the progress was.
        if cut { l.entries.removeLast(l.entries.count - progress.ledgerEntries) }
        return (l, cut)
    }
}
