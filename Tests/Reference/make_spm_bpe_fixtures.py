#!/usr/bin/env python3
"""Tiny SentencePiece-style (Metaspace / byte-fallback) BPE tokenizer.json fixtures for Locus.

Writes Tests/TokenizationTests/Fixtures/spm_bpe/<variant>/{tokenizer.json,tokenizer_config.json,ids.json}:
one small BPE (vocabulary of a few hundred tokens, trained here on a few KB of text with HF
`tokenizers`, laid out as Llama 2's tokenizer.json is: <unk> <s> </s>, the 256 `<0xXX>` byte tokens,
then the learned tokens), written in four text-handling styles that the Hub's files use:

    llama2     normalizer Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer, decoder
               Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)] (Llama 2, Mistral,
               Phi-3), <s> added by a TemplateProcessing post-processor; extra added tokens: a special
               "<|user|>" with rstrip (as Phi-3's chat tokens), a non-special "<tab>" and a normalized
               non-special "new york" (matched in the normalized text as "▁new▁york").
    metaspace_first  no normalizer, Metaspace(prepend_scheme "first", split false) (transformers'
               non-legacy Llama/Mistral conversion), add_bos_token in tokenizer_config.json.
    metaspace_always Metaspace(prepend_scheme "always", split true), ignore_merges, decoder Metaspace
               (which drops every "▁" of the first token), no BOS.
    gemma      normalizer Replace(" ", "▁"), pre-tokenizer Split(" ", MergedWithPrevious) (a no-op
               after the Replace), decoder Sequence[Replace, ByteFallback, Fuse], byte_fallback false
               and fuse_unk false in this variant only (so characters outside the vocabulary become
               one <unk> each), plus normalized "▁▁" and "▁▁▁" added tokens as Gemma's space runs.

ids.json: {"header": {...}, "cases": [{"text", "ids", "decoded"}]} where ids =
`Tokenizer.encode(text).ids` (special tokens added as the file says) and decoded =
`Tokenizer.decode(encode(text, add_special_tokens=False).ids)`, both from HF `tokenizers` itself.

It also writes Fixtures/gemma3_tokenizer_layout.json: what Gemma 3's tokenizer.json (as HF builds it
from the GGUF, with the correction make_tokenizer_fixtures.py describes, i.e. the tokenizer behind
gemma3_ids.json) holds beyond the GGUF's own token list, so that TokenizerJSONTests can write the
33 MB file at test time instead of committing it:
  - "tokenizer": the file without model.vocab, model.merges and added_tokens;
  - "respelled": the ids whose vocabulary text differs from tokenizer.ggml.tokens (the space runs);
  - "added_tokens": the rule they follow by token type, checked here, and an FNV-1a 64 hash of the list;
  - "merges": their count and FNV-1a 64 hash, and the rule the test derives them by (checked here);
  - the hash of the vocabulary in id order.
Hashes are over UTF-8: vocab "text\n" per id; merges "left\0right\n"; added tokens
"id\0content\0special\0normalized\n" (flags as 1/0), in the file's order.

Run with the project venv: /work/venv/bin/python Tests/Reference/make_spm_bpe_fixtures.py [--models DIR]
The corpus and the texts are fixed or seeded, so reruns give identical files.
"""

import json
import os
import random
import sys

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_tokenizer_fixtures import FIXED  # noqa: E402  (the shared list of hard texts)

CORPUS = """The quick brown fox jumps over the lazy dog. The dog sleeps in the sun.
Paris is the capital of France, and Rome is the capital of Italy.
The Eiffel Tower is located in the city of Paris. It was built in 1889.
Hello world! Hello there, how are you today? I am fine, thank you.
def main():
    print("hello world")
    return 0
for i in range(10):
    total += i * i
It's a truth universally acknowledged that a single man must be in want of a wife.
New York is a big city. New York has many tall buildings and busy streets.
She said that they're going to the market; we've seen them there before.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 2024 3.14 42.
Café, naïve, résumé: accents appear in French words such as élève and où.
""" * 3


def train():
    """A byte-fallback BPE in Llama 2's layout."""
    specials = ["<unk>", "<s>", "</s>"]
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    bpe = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    bpe.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    trainer = trainers.BpeTrainer(
        vocab_size=700, min_frequency=2, special_tokens=specials + bytes_, limit_alphabet=70, show_progress=False)
    bpe.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    assert [model["vocab"][t] for t in specials + bytes_] == list(range(len(specials) + 256))
    return model["vocab"], model["merges"]


def added(id_, content, special, normalized=False, rstrip=False):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def build(vocab, merges, variant):
    vocab = dict(vocab)
    n = len(vocab)
    extra = {"<|user|>": n, "<tab>": n + 1, "new york": n + 2}
    base_added = [added(0, "<unk>", True), added(1, "<s>", True), added(2, "</s>", True)]
    bos_template = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}},
    }
    seq_decoder = [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
                   {"type": "Fuse"}]
    strip = {"type": "Strip", "content": " ", "start": 1, "stop": 0}
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
             "vocab": vocab, "merges": merges}
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    j = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": base_added,
         "normalizer": None, "pre_tokenizer": None, "post_processor": None, "decoder": None, "model": model}
    if variant == "llama2":
        for t in ("<|user|>", "<tab>", "new york"):
            vocab[t] = extra[t]
        j["added_tokens"] += [added(extra["<|user|>"], "<|user|>", True, rstrip=True),
                              added(extra["<tab>"], "<tab>", False),
                              added(extra["new york"], "new york", False, normalized=True)]
        j["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
        j["post_processor"] = bos_template
        j["decoder"] = {"type": "Sequence", "decoders": seq_decoder + [strip]}
        config["add_bos_token"] = True
    elif variant == "metaspace_first":
        j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
        j["decoder"] = {"type": "Sequence", "decoders": seq_decoder + [strip]}
        config["add_bos_token"] = True
    elif variant == "metaspace_always":
        model["ignore_merges"] = True
        j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
        j["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
        config["add_bos_token"] = False
    elif variant == "gemma":
        model["byte_fallback"] = False
        model["fuse_unk"] = False
        # Gemma's space runs: in the vocabulary and added back as normalized tokens.
        for t in ("▁▁", "▁▁▁"):
            if t not in vocab:
                vocab[t] = len(vocab)
        j["added_tokens"] += [added(vocab["▁▁"], "▁▁", False, normalized=True),
                              added(vocab["▁▁▁"], "▁▁▁", False, normalized=True)]
        j["normalizer"] = {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}
        j["pre_tokenizer"] = {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious",
                              "invert": False}
        j["post_processor"] = bos_template
        j["decoder"] = {"type": "Sequence", "decoders": seq_decoder}
        config["add_bos_token"] = True
    else:
        raise ValueError(variant)
    j["added_tokens"].sort(key=lambda a: a["id"])
    return j, config


EXTRA_TEXTS = [
    "<|user|>   hello there", "<|user|>\nhi", "<s>Hello</s>", "text<s>after", "  <s>  spaced  </s>  ",
    "a<tab>b", "I love new york and New York", "new  york", "new york", " new york", "new yorker",
    "▁already▁marked", "▁", "▁▁ two", "   ", "a   b    c", "x\ty", "tab\t\tend", "trailing ",
    "ünïcödé ∑ 日本語 🦙🚀", "\u00e9 vs e\u0301", "0123456789", "9999 8888", "<unk>", "<0x41>",
]
SPECIAL_MIX = ["<s>", "</s>", "<|user|>", "<tab>", "new york", "<unk>"]


def texts():
    rng = random.Random(20250101)
    words = ["the", "city", "Paris", "hello", "world", "New", "York", "café", "日本", "🦙", "42", "it's",
             "  ", " ", "\n", "\t", "▁", "naïve", "ß", "Ω"]
    mixed = []
    for _ in range(40):
        parts = [rng.choice(words + SPECIAL_MIX) for _ in range(rng.randint(2, 9))]
        mixed.append("".join(p + (" " if rng.random() < 0.5 else "") for p in parts))
    out, seen = [], set()
    for t in FIXED + EXTRA_TEXTS + mixed:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def fnv1a64(chunks):
    h = 0xCBF29CE484222325
    for chunk in chunks:
        for b in chunk:
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def gemma3_layout(models_dir, out):
    """The small description of Gemma 3's tokenizer.json the test rebuilds the file from."""
    import tempfile

    from gguf import GGUFReader

    import make_tokenizer_fixtures as ref

    tok = ref.load(models_dir, "gemma3")
    correction = ref.correct("gemma3", tok)
    with tempfile.TemporaryDirectory() as d:
        tok.save_pretrained(d)
        with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
            j = json.load(f)
        with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
    fields = GGUFReader(os.path.join(models_dir, ref.MODELS["gemma3"])).fields
    tokens = fields["tokenizer.ggml.tokens"].contents()
    types = fields["tokenizer.ggml.token_type"].contents()
    vocab = j["model"]["vocab"]
    by_id = {i: t for t, i in vocab.items()}
    assert len(by_id) == len(tokens)
    respelled = {str(i): by_id[i] for i in range(len(tokens)) if by_id[i] != tokens[i]}
    # The rule the test derives merges by: tokens in id order, each cut at every scalar into two
    # vocabulary tokens, longer left part first (transformers' generate_merges with scores -id).
    texts = [by_id[i] for i in range(len(tokens))]
    derived = []
    for t in texts:
        derived += [(t[:k], t[k:]) for k in range(len(t) - 1, 0, -1) if t[:k] in vocab and t[k:] in vocab]
    merges = [tuple(m) for m in j["model"]["merges"]]
    assert derived == merges, "the merge rule does not reproduce transformers' merges"
    added = j["added_tokens"]
    space_runs = {int(i) for i in respelled}
    for a in added:
        t = types[a["id"]]
        assert (a["special"], a["normalized"]) == ((True, False) if t == 3 else (False, a["id"] in space_runs)), a
        assert a["content"] == by_id[a["id"]] and not (a["lstrip"] or a["rstrip"] or a["single_word"])
    assert [a["id"] for a in added] == [i for i in range(len(tokens)) if types[i] in (3, 4)]
    rest = dict(j)
    del rest["added_tokens"]
    rest["model"] = {k: v for k, v in j["model"].items() if k not in ("vocab", "merges")}
    enc = lambda s: s.encode("utf-8")
    layout = {
        "header": {"model_file": ref.MODELS["gemma3"], "correction": correction,
                   "source": "transformers AutoTokenizer.from_pretrained(gguf_file=...) + save_pretrained, "
                             "see Tests/Reference/make_spm_bpe_fixtures.py"},
        "tokenizer": rest,
        "tokenizer_config": config,
        "respelled": respelled,
        "added_tokens": {"rule": "every token of type 3 (special, normalized false) and 4 (not special; normalized "
                                 "only for the respelled space runs), in id order, content = vocabulary text",
                         "count": len(added),
                         "fnv1a64": fnv1a64(enc(f"{a['id']}\0{a['content']}\0{int(a['special'])}\0{int(a['normalized'])}\n")
                                            for a in added)},
        "merges": {"rule": "tokens in id order, each cut at every scalar into two vocabulary tokens, longer left first",
                   "count": len(merges), "fnv1a64": fnv1a64(enc(f"{l}\0{r}\n") for l, r in merges)},
        "vocab_fnv1a64": fnv1a64(enc(t + "\n") for t in texts),
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(layout, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"gemma3 layout: {len(merges)} merges, {len(added)} added tokens, {os.path.getsize(out)} bytes", file=sys.stderr)


def main():
    import argparse

    import tokenizers

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=os.path.expanduser("~/.cache/locus/models/gemma3"))
    args = parser.parse_args()
    fixtures = os.path.join(HERE, "..", "TokenizationTests", "Fixtures")
    gemma3_layout(args.models, os.path.join(fixtures, "gemma3_tokenizer_layout.json"))

    vocab, merges = train()
    root = os.path.join(HERE, "..", "TokenizationTests", "Fixtures", "spm_bpe")
    all_texts = texts()
    for variant in ("llama2", "metaspace_first", "metaspace_always", "gemma"):
        j, config = build(vocab, merges, variant)
        tok = Tokenizer.from_str(json.dumps(j))
        d = os.path.join(root, variant)
        os.makedirs(d, exist_ok=True)
        # Saved by `tokenizers` itself, so the file is in the library's own layout.
        tok.save(os.path.join(d, "tokenizer.json"), pretty=False)
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False)
        cases = []
        for t in all_texts:
            ids = tok.encode(t).ids
            if config.get("add_bos_token") and j["post_processor"] is None:
                ids = [1] + ids  # transformers adds BOS from tokenizer_config.json's add_bos_token
            bare = tok.encode(t, add_special_tokens=False).ids
            cases.append({"text": t, "ids": ids, "decoded": tok.decode(bare)})
        header = {"variant": variant, "tokenizers": tokenizers.__version__, "count": len(cases),
                  "vocabulary": tok.get_vocab_size(), "merges": len(merges),
                  "ids": "Tokenizer.encode(text).ids, plus <s> (1) in front where tokenizer_config.json's "
                         "add_bos_token is true and the file has no post-processor (as transformers adds it)",
                  "decoded": "Tokenizer.decode(encode(text, add_special_tokens=False).ids)"}
        with open(os.path.join(d, "ids.json"), "w", encoding="utf-8") as f:
            json.dump({"header": header, "cases": cases}, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        sizes = {n: os.path.getsize(os.path.join(d, n)) for n in os.listdir(d)}
        roundtrip = sum(c["decoded"] == c["text"] for c in cases)
        print(f"{variant}: {len(cases)} cases, {roundtrip} decode to the text, sizes {sizes}", file=sys.stderr)


if __name__ == "__main__":
    main()
