import Foundation

/// An sRGB colour, 8 bits per channel.
public struct RGB: Equatable, Hashable, Sendable {
    public let r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }
    /// `#rrggbb`.
    public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }
    /// Channels in [0, 1], as Cairo takes them.
    var unit: (Double, Double, Double) { (Double(r) / 255, Double(g) / 255, Double(b) / 255) }

    public static let black = RGB(0, 0, 0), white = RGB(255, 255, 255), grey = RGB(90, 90, 90)
    /// The colour of a missing (NaN) value.
    public static let missing = RGB(200, 200, 200)
    /// Line colours, matplotlib's `tab10` order: blue, orange, green, red, purple, brown, pink, grey, olive, cyan.
    public static let palette = [
        RGB(31, 119, 180), RGB(255, 127, 14), RGB(44, 160, 44), RGB(214, 39, 40), RGB(148, 103, 189),
        RGB(140, 86, 75), RGB(227, 119, 194), RGB(127, 127, 127), RGB(188, 189, 34), RGB(23, 190, 207),
    ]
}

/// Sequential colour maps like matplotlib's (white to a dark hue), used as the ROME figures use them:
/// purple for hidden states, green for MLP, red for attention.
public enum ColorMap: String, Codable, Sendable {
    case purples, greens, reds, blues

    /// Colours at evenly spaced points of [0, 1]; the map interpolates linearly between them.
    public var stops: [RGB] {
        switch self {
        case .purples: return [RGB(252, 251, 253), RGB(188, 189, 220), RGB(117, 107, 177), RGB(63, 0, 125)]
        case .greens: return [RGB(247, 252, 245), RGB(161, 217, 155), RGB(49, 163, 84), RGB(0, 68, 27)]
        case .reds: return [RGB(255, 245, 240), RGB(252, 146, 114), RGB(222, 45, 38), RGB(103, 0, 13)]
        case .blues: return [RGB(247, 251, 255), RGB(158, 202, 225), RGB(49, 130, 189), RGB(8, 48, 107)]
        }
    }

    /// A dark colour of the map (at 0.8), for lines drawn in the same hue as a heatmap.
    public var line: RGB { color(0.8) }

    /// The colour at `t` in [0, 1] (clamped); NaN is `RGB.missing`.
    public func color(_ t: Double) -> RGB {
        guard t.isFinite else { return .missing }
        let s = stops, x = min(max(t, 0), 1) * Double(s.count - 1)
        let i = min(Int(x), s.count - 2), f = x - Double(i)
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) + (Double(b) - Double(a)) * f).rounded()) }
        return RGB(mix(s[i].r, s[i + 1].r), mix(s[i].g, s[i + 1].g), mix(s[i].b, s[i + 1].b))
    }
}
