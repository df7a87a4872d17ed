#!/usr/bin/env python3
"""Reference token ids for the Locus tokenizer tests.

Writes Tests/TokenizationTests/Fixtures/{smollm2,gemma3}_ids.json:

    {"header": {...}, "cases": [{"text": "...", "ids": [...]}, ...]}

Run with the project venv (transformers 5.x, tokenizers, gguf, sentencepiece; torch not needed):

    /work/venv/bin/python Tests/Reference/make_tokenizer_fixtures.py [--models /work/models]

What the reference is
---------------------
The ids come from Hugging Face `tokenizers`, through
`AutoTokenizer.from_pretrained(models_dir, gguf_file=...)`. transformers has no tokenizer.json for a
GGUF: it *rebuilds* the tokenizer from the file's `tokenizer.ggml.*` metadata
(transformers/integrations/gguf/gguf_tokenizer_mapping.py). So this is an implementation
independent of Locus and of llama.cpp, but it is not the original Hub tokenizer, and its rebuild
differs from the Hub tokenizers in two places that these strings reach. We correct both, so the
fixtures follow what the models were trained with (and what llama.cpp does):

1. SmolLM2 (`tokenizer.ggml.pre = "smollm"`): the Hub tokenizer pre-tokenizes with
   `Sequence([Digits(individual_digits=True), ByteLevel(add_prefix_space=False)])`, and llama.cpp's
   LLAMA_VOCAB_PRE_TYPE_SMOLLM likewise splits `\\p{N}` before the GPT-2 regex. transformers has no
   entry for "smollm" and uses the plain GPT-2 ByteLevel regex. The vocabulary has no merge with a
   digit, so the two differ only where whitespace runs touch digits ("a  1": Digits first gives
   ["a", "ĠĠ", "1"], plain GPT-2 gives ["a", "Ġ", "Ġ", "1"]). We set the Hub pre-tokenizer.
2. Gemma 3 (`tokenizer.ggml.model = "llama"`): the runs of 2..31 spaces are user-defined tokens,
   matched whole in the (normalized) text by SentencePiece, the Hub tokenizer and llama.cpp.
   transformers respells them "▁▁..." and reaches them through merges instead, which agrees for
   runs of up to 31 spaces but not for longer ones (40 spaces: [16, 24] instead of [31, 9]). We add
   them back as normalized added tokens.

The header lists every text where the uncorrected transformers rebuild gives other ids.

Special tokens are added exactly as the (corrected) HF tokenizer adds them by default
(`add_special_tokens=True`): for SmolLM2 nothing (add_bos_token is false in the GGUF), for Gemma 3
`<bos>` (id 2) in front. Control tokens (type 3) and user-defined tokens (type 4) that appear
literally in the text are matched whole.

The strings are a fixed list plus seeded random mixes, so reruns give identical files.
"""

import argparse
import json
import os
import random
import sys

MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}

FIXED = [
    "",
    " ",
    "  ",
    "\n",
    "\t",
    "Hello world",
    "Hello, world!",
    "The Eiffel Tower is located in the city of",
    "The Space Needle is located in the city of",
    "The Colosseum is located in the city of",
    "Michael Jordan plays the sport of",
    "The mother tongue of Danielle Darrieux is",
    "Paris is the capital of",
    "The capital of France is Paris.",
    "Apple was founded by Steve Jobs, Steve Wozniak and Ronald Wayne in 1976.",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "Pack my box with five dozen liquor jugs.",
    "It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
    "I can't believe it's not butter; they're sure we've seen it, I'm told, we'll see, he'd know.",
    "IT'S LOUD: DON'T SHOUT, THEY'RE HERE, WE'VE GONE, I'M OUT, WE'LL GO, HE'D SAY",
    "rock 'n' roll, 'quoted', ''double'', the dogs' bones",
    "She said \"hello\" and left.",
    "café naïve résumé façade coöperate Ångström",
    "cafe\u0301 nai\u0308ve (decomposed accents)",
    "Straße, Œuvre, æsthetic, ðe, þorn, Łódź, Dvořák",
    "Привет, мир! Как дела?",
    "Γειά σου Κόσμε",
    "你好，世界！今天天气很好。",
    "東京は日本の首都です。",
    "日本語のテキストとカタカナ、ひらがな。",
    "안녕하세요 세계",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "Tiếng Việt có dấu",
    "emoji: 😀 😃 😄 🚀 🦙🦙 ✅",
    "family: 👨‍👩‍👧‍👦 and flag: 🇫🇷 🇯🇵 and skin tone: 👍🏽",
    "😶‍🌫️ (multiple emojis concatenated) ❤️‍🔥",
    "🏳️‍🌈🏴‍☠️",
    "a\u200bb\u200cc\u200dd",
    "non\u00a0breaking\u00a0space and\u3000ideographic space",
    "line one\nline two\nline three",
    "para one\n\npara two\n\n\npara three",
    "windows\r\nline\r\nendings\r\n",
    "tabs\tbetween\t\twords\t\t\t",
    "\t\tindented with tabs",
    "    indented with four spaces",
    "  leading two spaces",
    "trailing spaces   ",
    " leading and trailing ",
    "multiple    spaces     between      words",
    "a" + " " * 40 + "b",
    " " * 33,
    "x" + " " * 31 + "y" + " " * 32 + "z",
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n",
    "mixed \t \n \r\n whitespace \u2003 em space",
    "0",
    "7",
    "42",
    "123",
    "1234",
    "12345",
    "3 33 333 3333 33333 333333 3333333 33333333",
    "3.14159265358979323846264338327950288419716939937510",
    "1,234,567.89 and 1.000.000,00",
    "Phone: +1 (555) 123-4567",
    "Version 2.0.1-beta+build.42",
    "The year 2024 had 366 days.",
    "a  1",
    "x =  12\n  3",
    "   42   ",
    "\n1\n 2\n  3\n   4",
    "ⅫⅩ ① ② ③ ²³ ½ ٣٤٥ १२३ １２３ 𝟙𝟚𝟛",
    "digits9in8words7",
    "0x1F 0b1010 1e-10 -5 +7",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
    "fn main() {\n    println!(\"Hello, {}!\", name);\n}",
    "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
    "SELECT * FROM users WHERE id = 42 AND name LIKE '%smith%';",
    "https://example.com/path?query=value&other=123#fragment",
    "user@example.com, first.last+tag@sub.domain.org",
    "C:\\Users\\name\\Documents\\file.txt",
    "$ ls -la | grep \"*.swift\" > out.txt 2>&1",
    "!!!???...,,,;;;:::",
    "---===+++***///\\\\\\|||",
    "(((nested))) [[[brackets]]] {{{braces}}}",
    "Wait... what?! No way!!!",
    "«guillemets» „Anführungszeichen“ ‘single’ “double” — em dash – en dash …",
    "© ® ™ § ¶ † ‡ • ° ± × ÷ ≠ ≤ ≥ ∞ √ ∑ ∫ ∂",
    "∀x∈ℝ: x² ≥ 0",
    "<|im_start|>user\nHi<|im_end|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "text<|endoftext|>more text",
    "<|im_start|><|im_end|>",
    "<start_of_turn>user",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "<bos>Hello<eos>",
    "<pad><unk><mask>",
    "Hello <b>bold</b> and <i>italic</i> and <code>x</code>",
    "<table><tr><td>1</td></tr></table>",
    "<filename>main.py<file_sep>",
    "<|im_start|",
    "<start_of_turn",
    "im_start|>",
    "<|unknown_token|>",
    "<s> </s> [INST] [/INST]",
    "a" * 50,
    "ab" * 30,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbb",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "CamelCaseIdentifier snake_case_identifier kebab-case-identifier SCREAMING_CASE",
    "getElementById addEventListener XMLHttpRequest",
    "ALLCAPS lowercase MiXeD cAsE",
    "Mr. Smith went to Washington D.C. on Jan. 5th.",
    "e.g. i.e. etc. vs. a.m. p.m.",
    "Don't stop believin'",
    "'s 't 're 've 'm 'll 'd",
    "'S 'T 'RE 'VE 'M 'LL 'D",
    "y'all'd've",
    "o'clock, O'Neil, rock'n'roll",
    "Hello\x00world\x01\x02\x7f",
    "bell\x07 backspace\x08 formfeed\x0c vertical\x0b tab",
    "\u0085next line \u2028line sep \u2029para sep",
    "\ufeffbyte order mark",
    "soft\u00adhyphen",
    "right\u200fto\u200eleft marks",
    "\U0001F600\U0001F64F\U0001F680\U0001F6FF\U0001F900\U0001F9FF",
    "𝕳𝖊𝖑𝖑𝖔 𝓦𝓸𝓻𝓵𝓭",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "ﬁ ﬂ ﬀ ligatures",
    "ℌ℮ℓℓ◎",
    "░▒▓█ ─│┌┐└┘ ←↑→↓ ♠♣♥♦",
    "\u0300\u0301\u0302 combining marks alone",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dalgo",
    "The Eiffel Tower is in Paris. The Colosseum is in Rome. The Space Needle is in Seattle.",
    "Q: What is the tallest mountain?\nA: Mount Everest, at 8,849 m.",
    "1. First item\n2. Second item\n3. Third item",
    "- bullet\n  - nested bullet\n    - deeper",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "# Heading\n\n**bold** _italic_ `code` [link](http://x.y)",
    "    \n\t\n  \t  \n",
    "end with newline\n",
    "\nstart with newline",
    "a\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nb",
    "\t" * 35 + "x",
    "mixed\u00a0 \u00a0nbsp",
    "München Zürich Göteborg Kraków",
    "Español: ¿Dónde está la biblioteca? ¡Aquí!",
    "Português: ação, coração, pão",
    "Türkçe: İstanbul, ığdır, şehir",
    "Polski: zażółć gęślą jaźń",
    "Ελληνικά: αβγδεζηθικλμνξοπρστυφχψω",
    "Українська: ґанок, їжак, єнот",
    "中文混合English和数字123",
    "カタカナ・ひらがな・漢字がmixed",
    "한국어 English 混合",
    "العربية 123 English",
    "Emoji in text 🎉 party 🎂 cake",
    "🇺🇸🇬🇧🇩🇪",
    "#️⃣ 1️⃣ 2️⃣ *️⃣",
    "👩🏽‍💻 👨🏿‍🚀 🧑‍🤝‍🧑",
    "∑_{i=1}^{n} i = n(n+1)/2",
    "E = mc²",
    "H₂O and CO₂",
    "price: $19.99, €20,00, £15, ¥1000, ₹500, ₿0.001",
    "100% sure, 50/50 chance, 3:1 odds",
    "2024-01-15T10:30:00Z",
    "192.168.1.1:8080",
    "#hashtag @mention",
    "...",
    "\"",
    "'",
    "''",
    "'s",
    "a'",
    "🙂",
    "é",
    "字",
]

WORDS = [
    "the", "of", "and", "Paris", "Eiffel", "Tower", "located", "city", "capital", "France",
    "hello", "world", "tokenizer", "model", "language", "neural", "attention", "causal", "tracing",
    "don't", "it's", "they're", "we've", "I'm", "you'll", "he'd", "café", "naïve", "Straße",
    "日本", "東京", "中文", "한국", "Москва", "Αθήνα", "القاهرة", "ירושלים", "हिन्दी", "ไทย",
    "😀", "🚀", "👨‍👩‍👧", "🇫🇷", "❤️", "👍🏽", "Ⅻ", "①", "²", "½",
]
PUNCT = [".", ",", "!", "?", ";", ":", "...", "!!", "?!", "-", "--", "—", "(", ")", "[", "]",
         "{", "}", "\"", "'", "`", "*", "&", "%", "$", "#", "@", "/", "\\", "|", "<", ">", "=", "+"]
SPACES = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", " \n", "\n ", "\r\n", "\t\t", "\u00a0",
          "    ", "        "]
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<start_of_turn>", "<end_of_turn>",
            "<bos>", "<eos>", "<b>", "</b>", "<code>"]


def random_number(rng):
    n = rng.choice([1, 1, 2, 3, 4, 5, 7, 10, 15])
    return "".join(rng.choice("0123456789") for _ in range(n))


def random_fragment(rng):
    kind = rng.random()
    if kind < 0.45:
        return rng.choice(WORDS)
    if kind < 0.60:
        return random_number(rng)
    if kind < 0.75:
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 3)))
    if kind < 0.92:
        return rng.choice(SPACES)
    return rng.choice(SPECIALS)


def random_texts(count, seed):
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(2, 12)):
            parts.append(random_fragment(rng))
            if rng.random() < 0.6:
                parts.append(" ")
        texts.append("".join(parts))
    return texts


def all_texts():
    texts = list(FIXED) + random_texts(150, seed=20240615)
    seen, unique = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    return unique


def load(models_dir, name):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(models_dir, gguf_file=MODELS[name])


def correct(name, tok):
    """Apply the two corrections described in the module docstring."""
    from tokenizers import AddedToken, pre_tokenizers

    backend = tok.backend_tokenizer
    if name == "smollm2":
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ]
        )
        return "pre_tokenizer set to Sequence([Digits(individual_digits=True), ByteLevel(add_prefix_space=False)]) as in the Hub tokenizer and llama.cpp's smollm"
    if name == "gemma3":
        runs = ["\u2581" * n for n in range(2, 32)]
        assert all(r in tok.get_vocab() for r in runs)
        backend.add_tokens([AddedToken(r, normalized=True, special=False) for r in runs])
        return "space-run user-defined tokens (2..31 spaces) added back as normalized added tokens, matched whole as SentencePiece, the Hub tokenizer and llama.cpp do"
    raise ValueError(name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="/work/models")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "..", "TokenizationTests", "Fixtures"))
    args = parser.parse_args()
    texts = all_texts()
    os.makedirs(args.out, exist_ok=True)
    import tokenizers
    import transformers

    for name in MODELS:
        raw = load(args.models, name)
        raw_ids = [raw(t)["input_ids"] for t in texts]
        tok = load(args.models, name)
        correction = correct(name, tok)
        cases, no_roundtrip = [], []
        for text, before in zip(texts, raw_ids):
            ids = tok(text)["input_ids"]
            bare = tok(text, add_special_tokens=False)["input_ids"]
            cases.append({"text": text, "ids": ids, "uncorrected": before})
            if tok.decode(bare) != text:
                no_roundtrip.append(text)
        differing = [c["text"] for c in cases if c["ids"] != c["uncorrected"]]
        for c in cases:
            del c["uncorrected"]
        specials = {"smollm2": "none (tokenizer.ggml.add_bos_token is false)", "gemma3": "<bos> (id 2) prepended"}[name]
        header = {
            "model_file": MODELS[name],
            "reference": "HF tokenizers via transformers AutoTokenizer.from_pretrained(gguf_file=...), "
            "which rebuilds the tokenizer from the GGUF metadata (not the original Hub tokenizer.json); "
            "see Tests/Reference/make_tokenizer_fixtures.py",
            "correction": correction,
            "uncorrected_transformers_differs_on": differing,
            "special_tokens": "ids are tok(text)['input_ids'] with add_special_tokens=True (the default): " + specials,
            "hf_decode_does_not_round_trip": no_roundtrip,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "count": len(cases),
        }
        path = os.path.join(args.out, f"{name}_ids.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"header": header, "cases": cases}, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        print(f"{name}: {len(cases)} cases, {len(differing)} differ from uncorrected, "
              f"{os.path.getsize(path)} bytes -> {os.path.relpath(path)}", file=sys.stderr)


if __name__ == "__main__":
    main()
