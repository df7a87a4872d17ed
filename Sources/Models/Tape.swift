/// What one block's forward pass kept for its backward pass.
struct LayerTape: Sendable {
    var residPre: [Float] = []
    var ln1Stats = NormStats(mean: [], inverse: [])
    var ln1Out: [Float] = []
    var q: [Float] = []
    var k: [Float] = []
    var v: [Float] = []
    var qNormStats: NormStats?
    var kNormStats: NormStats?
    var rotQ: [Float] = []
    var rotK: [Float] = []
    /// Scores after soft-capping (Gemma 2), for its derivative.
    var cappedScores: [Float]?
    var pattern: [Float] = []
    var z: [Float] = []
    var attnPreNorm: [Float]?
    var postAttentionStats: NormStats?
    /// What the MLP's norm read: resid_mid, or resid_pre in a parallel block.
    var ln2Input: [Float] = []
    var ln2Stats = NormStats(mean: [], inverse: [])
    var ln2Out: [Float] = []
    var mlpPre: [Float] = []
    var mlpPreLinear: [Float]?
    var mlpPost: [Float] = []
    var mlpPreNorm: [Float]?
    var postMLPStats: NormStats?
    /// Rows whose `W_out` output a GRACE codebook replaced.
    var codebookRows: [Int] = []
    /// Resumed calls (`forward(resuming:)`): keys and values attended to, frozen prefix then this
    /// call's positions, `[B, prefixWidth + T, kv_width]`.
    var prefix: LayerPrefix?
}

/// The activations a forward call recorded so `Transformer.backward` can run.
public struct Tape: Sendable {
    let config: ModelConfig
    let batch: Int
    let tokensPerSequence: Int
    let offset: Int
    let lengths: [Int]
    var tokens: [[Int]] = []
    var layers: [LayerTape] = []
    var finalInput: [Float] = []
    var finalStats = NormStats(mean: [], inverse: [])
    var finalNormalized: [Float] = []
    /// First block recorded (non-zero for `forward(resuming:)`; `layers[i]` is block `firstLayer + i`).
    var firstLayer = 0
    /// Position of every row when not `row % T` (resumed calls).
    var positions: [Int]?

    init(config: ModelConfig, batch: Int, tokens: Int, offset: Int, lengths: [Int]) {
        self.config = config
        self.batch = batch
        self.tokensPerSequence = tokens
        self.offset = offset
        self.lengths = lengths
    }
}
