#!/usr/bin/env python3
"""Full-size GGUF models with RANDOM weights, for measuring memory and speed only (never committed).

    /work/venv/bin/python Benchmarks/make_synthetic.py llama3-8b --type q8_0 [--out DIR]
    /work/venv/bin/python Benchmarks/make_synthetic.py qwen2.5-7b --type f16

Shapes are those of Llama-3.1-8B (with its Llama 3 rope_freqs.weight) and Qwen2.5-7B (q/k/v biases).
Tensor names and metadata keys follow llama.cpp's GGUF files, so llama.cpp's llama-bench and Locus run the
same file. Values: linears and embeddings ~ uniform with std 0.02 (Q8_0: random int8 codes with one scale),
norms 1, biases 0. The tokenizer is a byte-level stub: the 256 GPT-2 byte characters, one merge ("Ġ t"), then "<tN>".
Written tensor by tensor, so memory stays near one tensor. Needs numpy and gguf (gguf-py).
"""
import argparse, math, os, time
import numpy as np
import gguf

SHAPES = {
    "llama3-8b": dict(arch="llama", d=4096, layers=32, heads=32, kv=8, dh=128, ff=14336, vocab=128256, ctx=131072,
                      base=500000.0, eps=1e-5, bias=False, llama3=True),
    "qwen2.5-7b": dict(arch="qwen2", d=3584, layers=28, heads=28, kv=4, dh=128, ff=18944, vocab=152064, ctx=32768,
                       base=1e6, eps=1e-6, bias=True, llama3=False),
}


def byte_chars():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def llama3_factors(dh, base):
    out = []
    for i in range(dh // 2):
        wl = 2 * math.pi * base ** (2 * i / dh)
        if wl < 8192 / 4: out.append(1.0)
        elif wl > 8192: out.append(8.0)
        else:
            s = (8192 / wl - 1) / 3
            out.append(1 / ((1 - s) / 8 + s))
    return np.array(out, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shape", choices=SHAPES)
    ap.add_argument("--type", choices=["f16", "q8_0"], default="q8_0")
    ap.add_argument("--out", default=os.path.expanduser("~/.cache/locus-synthetic"))
    a = ap.parse_args()
    s = SHAPES[a.shape]
    os.makedirs(a.out, exist_ok=True)
    path = f"{a.out}/{a.shape}-{a.type}.gguf"
    arch, d, L = s["arch"], s["d"], s["layers"]
    w = gguf.GGUFWriter(path + ".tmp", arch)
    w.add_name(f"synthetic {a.shape}")
    w.add_file_type(1 if a.type == "f16" else 7)
    w.add_block_count(L); w.add_context_length(s["ctx"]); w.add_embedding_length(d); w.add_feed_forward_length(s["ff"])
    w.add_head_count(s["heads"]); w.add_head_count_kv(s["kv"]); w.add_layer_norm_rms_eps(s["eps"])
    w.add_rope_freq_base(s["base"]); w.add_rope_dimension_count(s["dh"]); w.add_vocab_size(s["vocab"])
    tokens = byte_chars() + ["Ġt"] + [f"<t{i}>" for i in range(257, s["vocab"])]
    w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre("default"); w.add_token_list(tokens)
    w.add_token_types([1] * len(tokens)); w.add_token_merges(["Ġ t"]); w.add_bos_token_id(0); w.add_eos_token_id(1)

    rng = np.random.default_rng(0)
    qtype = gguf.GGMLQuantizationType.F16 if a.type == "f16" else gguf.GGMLQuantizationType.Q8_0
    specs = []  # (name, rows, cols, kind)
    specs.append(("token_embd.weight", s["vocab"], d, "mat"))
    if s["llama3"]: specs.append(("rope_freqs.weight", s["dh"] // 2, 0, "freqs"))
    for l in range(L):
        p = f"blk.{l}."
        specs += [(p + "attn_norm.weight", d, 0, "norm"), (p + "attn_q.weight", s["heads"] * s["dh"], d, "mat"),
                  (p + "attn_k.weight", s["kv"] * s["dh"], d, "mat"), (p + "attn_v.weight", s["kv"] * s["dh"], d, "mat")]
        if s["bias"]:
            specs += [(p + "attn_q.bias", s["heads"] * s["dh"], 0, "bias"), (p + "attn_k.bias", s["kv"] * s["dh"], 0, "bias"),
                      (p + "attn_v.bias", s["kv"] * s["dh"], 0, "bias")]
        specs += [(p + "attn_output.weight", d, s["heads"] * s["dh"], "mat"), (p + "ffn_norm.weight", d, 0, "norm"),
                  (p + "ffn_gate.weight", s["ff"], d, "mat"), (p + "ffn_up.weight", s["ff"], d, "mat"),
                  (p + "ffn_down.weight", d, s["ff"], "mat")]
    specs += [("output_norm.weight", d, 0, "norm"), ("output.weight", s["vocab"], d, "mat")]

    for name, rows, cols, kind in specs:
        if kind == "mat":
            nbytes = rows * cols * 2 if a.type == "f16" else rows * (cols // 32) * 34
            shape = (rows, cols) if a.type == "f16" else (rows, cols // 32 * 34)  # quantized: the byte shape
            w.add_tensor_info(name, shape, np.dtype(np.float16 if a.type == "f16" else np.uint8), nbytes, raw_dtype=qtype)
        else:
            w.add_tensor_info(name, (rows,), np.dtype(np.float32), rows * 4)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_ti_data_to_file()
    t0 = time.time()
    scale16 = np.float16(0.02 / 73.3)  # uniform int8 codes in [-127, 127] have std 73.3
    for name, rows, cols, kind in specs:
        if kind == "norm": w.write_tensor_data(np.ones(rows, np.float32))
        elif kind == "bias": w.write_tensor_data(np.zeros(rows, np.float32))
        elif kind == "freqs": w.write_tensor_data(llama3_factors(s["dh"], s["base"]))
        elif a.type == "f16":
            x = (rng.integers(-127, 128, size=(rows, cols), dtype=np.int8).astype(np.float16) * scale16)
            w.write_tensor_data(x)
        else:
            blocks = np.empty((rows, cols // 32, 34), np.uint8)
            blocks[:, :, 0:2] = np.frombuffer(scale16.tobytes(), np.uint8)
            blocks[:, :, 2:] = rng.integers(-127, 128, size=(rows, cols // 32, 32), dtype=np.int8).view(np.uint8)
            w.write_tensor_data(blocks.reshape(rows, -1))
    w.close()
    os.replace(path + ".tmp", path)
    print(f"{path}: {os.path.getsize(path) / 2**30:.2f} GiB in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
