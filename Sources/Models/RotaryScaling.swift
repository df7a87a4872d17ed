import Foundation

// Rotary scalings as divisors of the default inverse frequencies `base^(-2i/r)`, one per rotating pair
// (`ModelConfig.ropeFrequencyFactors`), plus YaRN's multiplier on the cosines and sines
// (`ModelConfig.ropeAttentionFactor`). Computed in Double; the engine divides its Float frequencies by them.

/// Llama 3's rotary scaling (`rope_type: "llama3"`) as divisors of the inverse frequencies, computed as
/// transformers' `_compute_llama3_parameters` and llama.cpp's converter do: wavelengths longer than
/// `originalContext / lowFrequencyFactor` are divided by `factor`, shorter than `originalContext /
/// highFrequencyFactor` are kept, and those between are interpolated smoothly.
public func llama3FrequencyFactors(
    base: Float, dimensions: Int, factor: Float, lowFrequencyFactor: Float, highFrequencyFactor: Float, originalContext: Int
) -> [Float] {
    let old = Double(originalContext)
    let lowWavelength = old / Double(lowFrequencyFactor), highWavelength = old / Double(highFrequencyFactor)
    return (0..<(dimensions / 2)).map { i in
        let invFreq = 1 / pow(Double(base), Double(2 * i) / Double(dimensions))
        let wavelength = 2 * Double.pi / invFreq
        if wavelength < highWavelength { return 1 }
        if wavelength > lowWavelength { return factor }
        let smooth = (old / wavelength - Double(lowFrequencyFactor)) / Double(highFrequencyFactor - lowFrequencyFactor)
        return Float(1 / ((1 - smooth) / Double(factor) + smooth))
    }
}

/// YaRN (Peng et al. 2023, "YaRN: Efficient Context Window Extension"): the parameters of one model's
/// scaling, with the defaults of the paper, transformers (`_compute_yarn_parameters`) and llama.cpp.
public struct YaRN: Sendable, Equatable {
    /// Context extension: pairs that turn fewer than `betaSlow` times over the original context are
    /// interpolated (frequency divided by `factor`), those turning more than `betaFast` times are kept.
    public var factor: Double
    public var originalContext: Int
    public var betaFast: Double = 32
    public var betaSlow: Double = 1
    /// Round the ramp's ends to whole pairs (transformers' `truncate`, always on in llama.cpp).
    public var truncate = true
    /// The multiplier on cos and sin when the file gives one; else `0.1·ln(factor) + 1`
    /// (or transformers' `mscale`/`mscale_all_dim` ratio when both are given).
    public var attentionFactor: Double?
    public var mscale: Double?
    public var mscaleAllDimensions: Double?

    public init(factor: Double, originalContext: Int) {
        self.factor = factor
        self.originalContext = originalContext
    }

    /// Divisors of the default inverse frequencies, one per rotating pair of `dimensions`: the blend
    /// `1 / ((1 − e)/factor + e)` with the extrapolation share `e` falling linearly from 1 to 0 between
    /// the pairs that turn `betaFast` and `betaSlow` times over the original context.
    public func frequencyFactors(base: Float, dimensions: Int) -> [Float] {
        let r = Double(dimensions), logBase = log(Double(base))
        // The pair index at which a frequency turns `rotations` times over the original context.
        func pair(turning rotations: Double) -> Double {
            r * log(Double(originalContext) / (rotations * 2 * Double.pi)) / (2 * logBase)
        }
        var low = pair(turning: betaFast), high = pair(turning: betaSlow)
        if truncate { low = low.rounded(.down); high = high.rounded(.up) }
        low = max(low, 0)
        high = min(high, r - 1)
        if low == high { high += 0.001 }
        return (0..<(dimensions / 2)).map { i in
            let ramp = min(max((Double(i) - low) / (high - low), 0), 1)
            let extrapolation = 1 - ramp
            return Float(1 / ((1 - extrapolation) / factor + extrapolation))
        }
    }

    /// The multiplier on the rotary cosines and sines.
    public var cosineScale: Double {
        if let attentionFactor { return attentionFactor }
        func scale(_ m: Double) -> Double { factor <= 1 ? 1 : 0.1 * m * log(factor) + 1 }
        if let mscale, let mscaleAllDimensions, mscale != 0, mscaleAllDimensions != 0 {
            return scale(mscale) / scale(mscaleAllDimensions)
        }
        return scale(1)
    }
}
