/// The regex pre-tokenizers of byte-level BPE vocabularies, as hand-written scanners.
///
/// Each scanner walks Unicode scalars with their classes (letter `\p{L}`, number `\p{N}`,
/// whitespace `\s` = White_Space) and reproduces, alternative by alternative and with the same
/// backtracking, what the regex a `tokenizer.ggml.pre` name stands for matches. The pieces it cuts
/// always cover the text, so a scanner reports only where each piece ends.

/// Character classes of one scalar, as bit flags.
enum ScalarClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let whitespace: UInt8 = 4
    /// "\r" or "\n".
    static let newline: UInt8 = 8
    /// U+0020 itself (the literal space in " ?\p{L}+").
    static let space: UInt8 = 16
    static let apostrophe: UInt8 = 32

    private static let ascii: [UInt8] = (0..<128).map { slowClassify(Unicode.Scalar(UInt8($0))) }

    @inline(__always) static func of(_ s: Unicode.Scalar) -> UInt8 {
        s.value < 128 ? ascii[Int(s.value)] : slowClassify(s)
    }

    private static func slowClassify(_ s: Unicode.Scalar) -> UInt8 {
        var c: UInt8 = 0
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: c |= letter
        case .decimalNumber, .letterNumber, .otherNumber: c |= number
        default: break
        }
        if s.properties.isWhitespace { c |= whitespace }
        if s == "\r" || s == "\n" { c |= newline }
        if s == " " { c |= space }
        if s == "'" { c |= apostrophe }
        return c
    }
}

/// A byte-level BPE pre-tokenizer, chosen by `tokenizer.ggml.pre`.
enum PreTokenizer: Sendable, Equatable {
    /// GPT-2's `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// Every `\p{N}` on its own, then GPT-2's regex on the text between (HF's
    /// `Digits(individual_digits=True)` before `ByteLevel`; llama.cpp's smollm/starcoder).
    case digitsThenGPT2
    /// Llama 3's `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`; Qwen 2's is the same with `\p{N}`.
    case llama3(maxDigits: Int)

    /// The pre-tokenizer a `tokenizer.ggml.pre` name implies, or nil for a name Locus lacks.
    /// "default" and "gpt2" both mean GPT-2's regex, as transformers reads them.
    init?(name: String) {
        switch name {
        case "gpt2", "default", "mpt", "olmo": self = .gpt2
        case "smollm", "starcoder", "refact", "codeshell": self = .digitsThenGPT2
        case "llama-bpe", "llama3", "llama-v3", "falcon3", "smaug-bpe", "dbrx": self = .llama3(maxDigits: 3)
        case "qwen2", "deepseek-r1-qwen", "stablelm2": self = .llama3(maxDigits: 1)
        default: return nil
        }
    }

    static let knownNames = [
        "gpt2", "default", "mpt", "olmo", "smollm", "starcoder", "refact", "codeshell", "llama-bpe", "llama3",
        "llama-v3", "falcon3", "smaug-bpe", "dbrx", "qwen2", "deepseek-r1-qwen", "stablelm2",
    ]

    /// Appends to `ends` where each piece of `start..<end` ends (the last is `end`).
    func split(_ scalars: [Unicode.Scalar], _ classes: [UInt8], _ start: Int, _ end: Int, into ends: inout [Int]) {
        switch self {
        case .gpt2:
            var i = start
            while i < end {
                i = Self.gpt2Piece(scalars, classes, i, end)
                ends.append(i)
            }
        case .digitsThenGPT2:
            var i = start
            while i < end {
                if classes[i] & ScalarClass.number != 0 {
                    i += 1
                    ends.append(i)
                    continue
                }
                var j = i + 1
                while j < end, classes[j] & ScalarClass.number == 0 { j += 1 }
                while i < j {
                    i = Self.gpt2Piece(scalars, classes, i, j)
                    ends.append(i)
                }
            }
        case .llama3(let maxDigits):
            var i = start
            while i < end {
                i = Self.llama3Piece(scalars, classes, i, end, maxDigits: maxDigits)
                ends.append(i)
            }
        }
    }

    /// Where GPT-2's regex match starting at `i` ends.
    static func gpt2Piece(_ s: [Unicode.Scalar], _ c: [UInt8], _ i: Int, _ end: Int) -> Int {
        let ci = c[i]
        // 's 't 're 've 'm 'll 'd (case-sensitive)
        if ci & ScalarClass.apostrophe != 0, i + 1 < end {
            let a = s[i + 1].value
            if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }
            if i + 2 < end {
                let b = s[i + 2].value
                if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the optional space, then a run of one class.
        let k = (ci & ScalarClass.space != 0 && i + 1 < end) ? i + 1 : i
        let ck = c[k]
        if ck & ScalarClass.letter != 0 { return run(c, from: k + 1, end, while: ScalarClass.letter) }
        if ck & ScalarClass.number != 0 { return run(c, from: k + 1, end, while: ScalarClass.number) }
        if ck & (ScalarClass.whitespace | ScalarClass.letter | ScalarClass.number) == 0 {
            return runOther(c, from: k + 1, end)
        }
        return whitespacePiece(c, i, end)
    }

    /// Where Llama 3's (or Qwen 2's) regex match starting at `i` ends.
    static func llama3Piece(_ s: [Unicode.Scalar], _ c: [UInt8], _ i: Int, _ end: Int, maxDigits: Int) -> Int {
        let ci = c[i]
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if ci & ScalarClass.apostrophe != 0, i + 1 < end {
            let a = foldedASCII(s[i + 1])
            if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }
            if i + 2 < end {
                let b = foldedASCII(s[i + 2])
                if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if ci & ScalarClass.letter != 0 { return run(c, from: i + 1, end, while: ScalarClass.letter) }
        if ci & (ScalarClass.newline | ScalarClass.number) == 0, i + 1 < end, c[i + 1] & ScalarClass.letter != 0 {
            return run(c, from: i + 2, end, while: ScalarClass.letter)
        }
        // \p{N}{1,maxDigits}
        if ci & ScalarClass.number != 0 {
            var j = i + 1
            while j < end, j - i < maxDigits, c[j] & ScalarClass.number != 0 { j += 1 }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let k = (ci & ScalarClass.space != 0 && i + 1 < end) ? i + 1 : i
        if c[k] & (ScalarClass.whitespace | ScalarClass.letter | ScalarClass.number) == 0 {
            return run(c, from: runOther(c, from: k + 1, end), end, while: ScalarClass.newline)
        }
        // \s*[\r\n]+ : the whitespace run up to and including its last newline.
        let j = run(c, from: i + 1, end, while: ScalarClass.whitespace)
        var last = j - 1
        while last >= i, c[last] & ScalarClass.newline == 0 { last -= 1 }
        if last >= i { return last + 1 }
        return whitespacePiece(c, i, end)
    }

    /// `\s+(?!\S)|\s+` at a whitespace scalar: the run, less its last scalar when a non-space
    /// follows and the run is longer than one.
    @inline(__always) static func whitespacePiece(_ c: [UInt8], _ i: Int, _ end: Int) -> Int {
        let j = run(c, from: i + 1, end, while: ScalarClass.whitespace)
        if j == end { return end }
        return j - i >= 2 ? j - 1 : i + 1
    }

    @inline(__always) static func run(_ c: [UInt8], from i: Int, _ end: Int, while cls: UInt8) -> Int {
        var j = i
        while j < end, c[j] & cls != 0 { j += 1 }
        return j
    }

    /// Extends a run of `[^\s\p{L}\p{N}]`.
    @inline(__always) static func runOther(_ c: [UInt8], from i: Int, _ end: Int) -> Int {
        var j = i
        let stop = ScalarClass.whitespace | ScalarClass.letter | ScalarClass.number
        while j < end, c[j] & stop == 0 { j += 1 }
        return j
    }

    /// A scalar folded for `(?i:...)` against ASCII letters (including U+017F long s, which folds to s).
    @inline(__always) static func foldedASCII(_ s: Unicode.Scalar) -> UInt32 {
        let v = s.value
        if v >= 0x41 && v <= 0x5A { return v + 0x20 }
        if v == 0x17F { return 0x73 }
        return v
    }
}
