import ArrayStore
import Foundation
import Models
import Tensors

/// One applied edit or batch: what was asked, how, and exactly what changed.
public struct LedgerEntry: Sendable, Equatable {
    public var method: EditMethod
    public var requests: [EditRequest]
    public var hyperparameters: MethodHyperparameters
    public var contextTemplates: [String]
    /// The factors of every change, in the order they were applied.
    public var deltas: [WeightDelta]
    /// Metrics before/after and guard figures, as JSON (an `EditOutcome`).
    public var report: String
    /// FNV-1a 64 checksum of each edited map right after this entry was applied, keyed by
    /// `WeightDelta.target` (`"5"`: block 5's `W_out`; `"5.W_Q"`: its `W_Q`).
    public var checksums: [String: String]
    public var time: String
    /// GRACE: the codebook entry added or changed (the weights are not changed).
    public var codebook: CodebookEdit?

    public init(
        method: EditMethod, requests: [EditRequest], hyperparameters: MethodHyperparameters, contextTemplates: [String],
        deltas: [WeightDelta], report: String, checksums: [String: String], time: String, codebook: CodebookEdit? = nil
    ) {
        self.codebook = codebook
        self.method = method
        self.requests = requests
        self.hyperparameters = hyperparameters
        self.contextTemplates = contextTemplates
        self.deltas = deltas
        self.report = report
        self.checksums = checksums
        self.time = time
    }
}

/// The record of every edit applied to a model file, stored in HDF5 next to it.
///
/// The original model file is never modified: the edited model is the file's weights with the
/// ledger's deltas applied in order (`apply(to:)`). Each entry stores its deltas in factored form
/// and the checksum of each edited layer after it, so replaying is verified bit for bit, and
/// reverting is replaying fewer entries. AlphaEdit's `Σ K Kᵀ` of earlier edits is stored too.
///
/// Layout: root attributes `format`, `format_version`, `model_sha256`, `model_file`, `edit_count`;
/// `/edits/NNNNNN` groups with attributes `method`, `requests`, `hyperparameters`,
/// `context_templates`, `report` (JSON), `checksums` (JSON), `layers` (the deltas' targets in order:
/// `5` for block 5's `W_out`, `5.W_Q` for another map), `time`, and per delta the datasets
/// `layer_L/left` `[inputs, rank]` and `layer_L/right` `[outputs, rank]` (Float32), or
/// `layer_L/delta` `[inputs, outputs]` for a dense change; a map other than `W_out` has them under
/// `layer_L/<map>/`. `/alphaedit/previous_keys/layer_L` `[d_mlp, d_mlp]`.
public struct Ledger: Sendable, Equatable {
    public var modelSHA256: String
    public var modelFile: String
    public var entries: [LedgerEntry]
    /// AlphaEdit's `C_prev` per layer, when AlphaEdit has been used.
    public var alphaEditPreviousKeys: [Int: [Float]]
    /// UltraEdit's lifelong normalisers (per map shape `inputs×outputs`), when UltraEdit has been used.
    public var ultraEditMoments: [String: RunningMoments] = [:]

    public init(modelSHA256: String, modelFile: String, entries: [LedgerEntry] = [], alphaEditPreviousKeys: [Int: [Float]] = [:]) {
        self.modelSHA256 = modelSHA256
        self.modelFile = modelFile
        self.entries = entries
        self.alphaEditPreviousKeys = alphaEditPreviousKeys
    }

    public static let format = "locus-edit-ledger"

    /// The default ledger path for a model file: beside it, `<stem>.edits.h5`.
    public static func defaultPath(forModel path: String) -> String {
        ((path as NSString).deletingPathExtension) + ".edits.h5"
    }

    // MARK: applying

    /// `base` with every entry's deltas applied in order, each edited layer checked against the
    /// entry's checksum.
    public func apply(to base: Transformer, file: String = "ledger") throws(EditError) -> Transformer {
        var t = base
        for (i, e) in entries.enumerated() {
            for d in e.deltas {
                guard d.layer >= 0 && d.layer < t.config.nLayers else {
                    throw .ledgerMismatch(file: file, field: "edits/\(i).layer", expected: "a layer below \(t.config.nLayers)", found: "\(d.layer)")
                }
                guard let w = t.linear(of: d) else {
                    throw .ledgerMismatch(file: file, field: "edits/\(i).layers", expected: "maps the model has", found: "\(d.matrix.rawValue) in block \(d.layer)")
                }
                guard w.inputs == d.inputs && w.outputs == d.outputs else {
                    throw .ledgerMismatch(
                        file: file, field: "edits/\(i)/\(Self.group(d))", expected: "factors for a \(w.inputs)×\(w.outputs) \(d.matrix.rawValue)",
                        found: "\(d.inputs)×\(d.outputs)")
                }
                d.apply(to: &t.weights.blocks)
            }
            if let c = e.codebook {
                guard c.layer >= 0 && c.layer < t.config.nLayers, c.query.count == t.config.dMLP, c.value.count == t.config.dModel else {
                    throw .ledgerMismatch(
                        file: file, field: "edits/\(i)/grace", expected: "a key of \(t.config.dMLP) and a value of \(t.config.dModel) at a layer below \(t.config.nLayers)",
                        found: "layer \(c.layer), \(c.query.count) and \(c.value.count)")
                }
                c.apply(to: &t.weights.blocks)
            }
            for (target, sum) in e.checksums.sorted(by: { WeightDelta.targetOrder($0.key, $1.key) }) {
                if target.hasSuffix(".codebook"), let l = Int(target.dropLast(".codebook".count)), l >= 0, l < t.config.nLayers {
                    let got = t.weights.blocks[l].codebook?.checksum ?? "none"
                    guard got == sum else {
                        throw .ledgerMismatch(file: file, field: "edits/\(i).checksums.layer_\(target)", expected: sum, found: got)
                    }
                    continue
                }
                guard let (l, k) = WeightDelta.parseTarget(Substring(target)), l < t.config.nLayers, let w = t.weights.blocks[l].linear(k) else {
                    throw .ledgerMismatch(file: file, field: "edits/\(i).checksums", expected: "targets such as 5 or 5.W_Q of this model", found: target)
                }
                let got = Checksum.fnv1a(w.weight)
                guard got == sum else {
                    throw .ledgerMismatch(
                        file: file, field: "edits/\(i).checksums.layer_\(target)", expected: sum,
                        found: "\(got) (the weights do not replay bit for bit; was the ledger made with another BLAS kernel?)")
                }
            }
        }
        return t
    }

    // MARK: storage

    static func json<T: Encodable>(_ v: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(v)) ?? Data(), as: UTF8.self)
    }

    /// Writes the ledger (temporary name, then rename).
    public func save(to path: String) throws(EditError) {
        do {
            try H5File.write(path) { f in
                try f.setAttributes([
                    "format": .string(Self.format), "format_version": .int(1), "model_sha256": .string(modelSHA256),
                    "model_file": .string(modelFile), "edit_count": .int(Int64(entries.count)), "created_by": .string("locus Editing"),
                ])
                try Self.write(entries[...], numberedFrom: 0, to: f)
                try Self.write(previousKeys: alphaEditPreviousKeys, to: f)
                try Self.write(moments: ultraEditMoments, to: f)
            }
        } catch let e as EditError {
            throw e
        } catch {
            throw .storage(file: path, reason: "\(error)")
        }
    }

    /// Writes `entries` as `edits/NNNNNN` groups numbered from `first` (a ledger file holds them all;
    /// an evaluation checkpoint's part holds those made since the part before).
    static func write(_ entries: ArraySlice<LedgerEntry>, numberedFrom first: Int, to f: H5File) throws {
        if !f.exists("edits") { try f.createGroup("edits") }
        for (k, e) in entries.enumerated() {
            let g = String(format: "edits/%06d", first + k)
            try f.createGroup(g)
            precondition(Set(e.deltas.map(\.target)).count == e.deltas.count, "Ledger: one delta per map and entry")
            for d in e.deltas {
                if d.isDense {
                    try f.write(Tensor(shape: [d.inputs, d.outputs], data: d.left), at: "\(g)/\(group(d))/delta")
                } else {
                    try f.write(Tensor(shape: [d.inputs, d.rank], data: d.left), at: "\(g)/\(group(d))/left")
                    try f.write(Tensor(shape: [d.outputs, d.rank], data: d.right), at: "\(g)/\(group(d))/right")
                }
            }
            if let c = e.codebook {
                try f.write(Tensor(shape: [c.query.count], data: c.query), at: "\(g)/grace/query")
                try f.write(Tensor(shape: [c.value.count], data: c.value), at: "\(g)/grace/value")
                try f.write(integers: c.label.map(Int64.init), shape: [c.label.count], at: "\(g)/grace/label")
                try f.setAttributes(["layer": .int(Int64(c.layer)), "epsilon": .double(Double(c.epsilon))], on: "\(g)/grace")
            }
            try f.setAttributes(
                [
                    "method": .string(e.method.rawValue), "requests": .string(json(e.requests)),
                    "hyperparameters": .string(json(e.hyperparameters)),
                    "context_templates": .string(json(e.contextTemplates)), "report": .string(e.report),
                    "checksums": .string(json(e.checksums)),
                    "layers": .string(e.deltas.map(\.target).joined(separator: ",")), "time": .string(e.time),
                ], on: g)
        }
    }

    /// Where a delta's datasets sit inside its entry's group.
    static func group(_ d: WeightDelta) -> String {
        d.matrix == .W_out ? "layer_\(d.layer)" : "layer_\(d.layer)/\(d.matrix.rawValue)"
    }

    /// AlphaEdit's `C_prev` per layer as `alphaedit/previous_keys/layer_L` `[d_mlp, d_mlp]`.
    static func write(previousKeys: [Int: [Float]], to f: H5File) throws {
        for (l, x) in previousKeys.sorted(by: { $0.key < $1.key }) {
            let n = Int(Double(x.count).squareRoot())
            try f.write(Tensor(shape: [n, n], data: x), at: "alphaedit/previous_keys/layer_\(l)")
        }
    }

    /// UltraEdit's normalisers as `ultraedit/moments/<shape>/{count, mean, m2}` (Float64).
    static func write(moments: [String: RunningMoments], to f: H5File) throws {
        for (shape, m) in moments.sorted(by: { $0.key < $1.key }) {
            let g = "ultraedit/moments/\(shape)"
            try f.write(doubles: [m.count], shape: [1], at: "\(g)/count")
            try f.write(doubles: m.mean, shape: [m.width], at: "\(g)/mean")
            try f.write(doubles: m.m2, shape: [m.width], at: "\(g)/m2")
        }
    }

    static func moments(in f: H5File) throws -> [String: RunningMoments] {
        guard f.exists("ultraedit/moments") else { return [:] }
        var out: [String: RunningMoments] = [:]
        for shape in try f.children(of: "ultraedit/moments") {
            let g = "ultraedit/moments/\(shape)"
            let count = try f.readDoubles("\(g)/count").values, mean = try f.readDoubles("\(g)/mean").values, m2 = try f.readDoubles("\(g)/m2").values
            guard count.count == 1, mean.count == m2.count else {
                throw EditError.ledgerMismatch(file: f.path, field: g, expected: "count [1], mean and m2 of one width", found: "\(count.count), \(mean.count), \(m2.count)")
            }
            out[shape] = RunningMoments(count: count[0], mean: mean, m2: m2)
        }
        return out
    }

    /// Reads a ledger and checks it belongs to the model with `modelSHA256`.
    public static func load(_ path: String, modelSHA256: String) throws(EditError) -> Ledger {
        func mismatch(_ field: String, _ expected: String, _ found: String) -> EditError {
            .ledgerMismatch(file: path, field: field, expected: expected, found: found)
        }
        do {
            let f = try H5File.open(path)
            let root = try f.attributes()
            guard root["format"] == .string(format) else { throw mismatch("format", format, root["format"]?.description ?? "none") }
            guard root["model_sha256"] == .string(modelSHA256) else {
                throw mismatch("model_sha256", modelSHA256, root["model_sha256"]?.description ?? "none")
            }
            var ledger = Ledger(modelSHA256: modelSHA256, modelFile: root["model_file"]?.description ?? "")
            ledger.entries = try entries(in: f, file: path)
            ledger.alphaEditPreviousKeys = try previousKeys(in: f)
            ledger.ultraEditMoments = try moments(in: f)
            return ledger
        } catch let e as EditError {
            throw e
        } catch {
            throw .storage(file: path, reason: "\(error)")
        }
    }

    /// The `edits/NNNNNN` groups of `f`, in order (`file` names it in errors).
    static func entries(in f: H5File, file: String) throws -> [LedgerEntry] {
        func mismatch(_ field: String, _ expected: String, _ found: String) -> EditError {
            .ledgerMismatch(file: file, field: field, expected: expected, found: found)
        }
        let names = f.exists("edits") ? try f.children(of: "edits").sorted() : []
        let dec = JSONDecoder()
        var out: [LedgerEntry] = []
        for name in names {
            let g = "edits/\(name)"
            let a = try f.attributes(of: g)
            func text(_ k: String) throws(EditError) -> String {
                guard case .string(let s)? = a[k] else { throw mismatch("\(g).\(k)", "a string attribute", "none") }
                return s
            }
            guard let method = EditMethod(rawValue: try text("method")) else { throw mismatch("\(g).method", EditMethod.names, try text("method")) }
            let requests = try dec.decode([EditRequest].self, from: Data(try text("requests").utf8))
            let hData = Data(try text("hyperparameters").utf8)
            let h: MethodHyperparameters
            if method.isFineTuning {
                h = .fineTune(try dec.decode(FineTuneHyperparameters.self, from: hData))
            } else if method == .ultraedit {
                h = .ultraEdit(try dec.decode(UltraEditHyperparameters.self, from: hData))
            } else if method == .grace {
                h = .grace(try dec.decode(GRACEHyperparameters.self, from: hData))
            } else {
                h = .locate(try dec.decode(EditHyperparameters.self, from: hData))
            }
            let templates = try dec.decode([String].self, from: Data(try text("context_templates").utf8))
            let sums = try dec.decode([String: String].self, from: Data(try text("checksums").utf8))
            var deltas: [WeightDelta] = []
            for targetText in try text("layers").split(separator: ",") {
                guard let (l, k) = WeightDelta.parseTarget(targetText) else {
                    throw mismatch("\(g).layers", "targets such as 5 or 5.W_Q", try text("layers"))
                }
                let at = k == .W_out ? "\(g)/layer_\(l)" : "\(g)/layer_\(l)/\(k.rawValue)"
                if f.exists("\(at)/delta") {
                    let d = try f.readTensor("\(at)/delta")
                    guard d.rank == 2, d.shape[0] > 0, d.shape[1] > 0 else { throw mismatch("\(at)/delta", "[inputs, outputs]", "\(d.shape)") }
                    deltas.append(WeightDelta(layer: l, matrix: k, dense: d.data, inputs: d.shape[0], outputs: d.shape[1]))
                    continue
                }
                let left = try f.readTensor("\(at)/left"), right = try f.readTensor("\(at)/right")
                guard left.rank == 2, right.rank == 2, left.shape[1] == right.shape[1], left.shape[1] > 0 else {
                    throw mismatch(at, "left [inputs, r] and right [outputs, r]", "\(left.shape) and \(right.shape)")
                }
                deltas.append(WeightDelta(layer: l, matrix: k, rank: left.shape[1], left: left.data, right: right.data))
            }
            var codebook: CodebookEdit?
            if f.exists("\(g)/grace") {
                let ga = try f.attributes(of: "\(g)/grace")
                guard case .int(let layer)? = ga["layer"], case .double(let eps)? = ga["epsilon"] else {
                    throw mismatch("\(g)/grace", "attributes layer and epsilon", "\(ga.keys.sorted())")
                }
                codebook = CodebookEdit(
                    layer: Int(layer), query: try f.readTensor("\(g)/grace/query").data, label: try f.readIntegers("\(g)/grace/label").values.map { Int($0) },
                    epsilon: Float(eps), value: try f.readTensor("\(g)/grace/value").data)
            }
            out.append(
                LedgerEntry(
                    method: method, requests: requests, hyperparameters: h, contextTemplates: templates, deltas: deltas,
                    report: try text("report"), checksums: sums,
                    time: try text("time"), codebook: codebook))
        }
        return out
    }

    /// AlphaEdit's `C_prev` per layer stored in `f` (empty when there is none).
    static func previousKeys(in f: H5File) throws -> [Int: [Float]] {
        guard f.exists("alphaedit/previous_keys") else { return [:] }
        var out: [Int: [Float]] = [:]
        for name in try f.children(of: "alphaedit/previous_keys") {
            guard let l = Int(name.replacingOccurrences(of: "layer_", with: "")) else { continue }
            out[l] = try f.readTensor("alphaedit/previous_keys/\(name)").data
        }
        return out
    }
}

/// FNV-1a (64-bit) over the bytes of a Float32 array: a cheap check that replayed weights are
/// bit-identical (not a cryptographic hash).
public enum Checksum {
    public static func fnv1a(_ x: [Float]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        x.withUnsafeBytes { b in
            for byte in b {
                h ^= UInt64(byte)
                h = h &* 0x0000_0100_0000_01b3
            }
        }
        return String(format: "%016llx", h)
    }
}
