import Tensors

/// What a hook function is told about where it runs.
public struct HookContext: Sendable {
    public let id: HookID
    /// Number of real (unpadded) tokens in each sequence of the batch.
    public let lengths: [Int]
    /// Position of the first query token (non-zero when a KV cache holds earlier tokens).
    public let positionOffset: Int
}

/// A function that may read and change an activation in place.
public typealias HookFunction = @Sendable (inout Tensor, HookContext) -> Void

/// The hooks of one forward call: which activations to capture and which to change.
///
/// Hooks are a value passed to the call, never registered globally; a call with `Hooks()` captures
/// nothing and costs nothing. Changes run before capture, so a capture sees what flows onward.
///
/// ```swift
/// var hooks = Hooks(capture: [HookID(.mlpPost, layer: 5)])
/// hooks.edit(HookID(.mlpOut, layer: 5)) { t, _ in for i in t.data.indices { t.data[i] = 0 } }  // ablate
/// let r = try model.transformer.forward([ids], hooks: hooks, logits: .last)
/// let keys = r.cache[.mlpPost, layer: 5]!   // [batch, tokens, d_mlp]
/// ```
public struct Hooks: Sendable {
    /// Hook points whose activations the call returns in its `ActivationCache`.
    public var capture: Set<HookID>
    /// Functions run on an activation before it flows on, in the order they were added.
    public var edits: [HookID: [HookFunction]]

    /// Hooks capturing `capture` and running `edits`; `Hooks()` does neither.
    public init(capture: Set<HookID> = [], edits: [HookID: [HookFunction]] = [:]) {
        self.capture = capture
        self.edits = edits
    }

    /// True when nothing is captured or changed (the forward pass then skips all hook work).
    public var isEmpty: Bool { capture.isEmpty && edits.isEmpty }

    /// True if `id` is captured or changed.
    public func touches(_ id: HookID) -> Bool { capture.contains(id) || edits[id] != nil }

    /// Adds hook points to capture.
    public mutating func capture(_ ids: HookID...) { capture.formUnion(ids) }

    /// Adds a function that changes the activation at `id` in place (after any added earlier).
    public mutating func edit(_ id: HookID, _ function: @escaping HookFunction) {
        edits[id, default: []].append(function)
    }
}

/// Activations captured by a forward call, by hook point.
public struct ActivationCache: Sendable {
    /// The captured tensors; shapes are listed with each site in `HookNames.swift`.
    public var values: [HookID: Tensor] = [:]
    /// An empty cache.
    public init() {}
    /// The activation captured at `id`, or nil if it was not captured.
    public subscript(_ id: HookID) -> Tensor? {
        get { values[id] }
        set { values[id] = newValue }
    }
    /// The activation captured at a per-layer site of block `layer` (`cache[.mlpPost, layer: 5]`).
    public subscript(_ site: HookSite, layer: Int) -> Tensor? { values[HookID(site, layer: layer)] }
    /// The captured hook points in model order.
    public var ids: [HookID] { values.keys.sorted() }
}

/// Runs the hooks of one call at each hook point.
struct HookRunner {
    let hooks: Hooks
    let lengths: [Int]
    let positionOffset: Int
    var cache = ActivationCache()

    init(hooks: Hooks, lengths: [Int], positionOffset: Int) {
        self.hooks = hooks
        self.lengths = lengths
        self.positionOffset = positionOffset
    }

    @inline(__always) func wants(_ id: HookID) -> Bool { !hooks.isEmpty && hooks.touches(id) }

    /// Applies the edits registered at `id` to `data` (shape `shape`), then captures it if asked.
    mutating func visit(_ id: HookID, _ data: inout [Float], shape: [Int]) {
        guard !hooks.isEmpty else { return }
        if let fns = hooks.edits[id] {
            var t = Tensor(shape: shape, data: data)
            data = []
            let ctx = HookContext(id: id, lengths: lengths, positionOffset: positionOffset)
            for f in fns { f(&t, ctx) }
            precondition(t.shape == shape && t.data.count == t.shape.reduce(1, *), "hook at \(id) changed the shape \(shape) to \(t.shape)")
            data = t.data
        }
        if hooks.capture.contains(id) { cache[id] = Tensor(shape: shape, data: data) }
    }
}
