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
public struct Hooks: Sendable {
    public var capture: Set<HookID>
    public var edits: [HookID: [HookFunction]]

    public init(capture: Set<HookID> = [], edits: [HookID: [HookFunction]] = [:]) {
        self.capture = capture
        self.edits = edits
    }

    public var isEmpty: Bool { capture.isEmpty && edits.isEmpty }

    /// True if `id` is captured or changed.
    public func touches(_ id: HookID) -> Bool { capture.contains(id) || edits[id] != nil }

    public mutating func capture(_ ids: HookID...) { capture.formUnion(ids) }

    public mutating func edit(_ id: HookID, _ function: @escaping HookFunction) {
        edits[id, default: []].append(function)
    }
}

/// Activations captured by a forward call, by hook point.
public struct ActivationCache: Sendable {
    public var values: [HookID: Tensor] = [:]
    public init() {}
    public subscript(_ id: HookID) -> Tensor? {
        get { values[id] }
        set { values[id] = newValue }
    }
    public subscript(_ site: HookSite, layer: Int) -> Tensor? { values[HookID(site, layer: layer)] }
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
