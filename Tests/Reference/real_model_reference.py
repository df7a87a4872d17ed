#!/usr/bin/env python3
"""Reference outputs of the two real GGUF models, computed with Hugging Face transformers.

Writes Tests/ModelsTests/Fixtures/real/:
  smollm2.json          SmolLM2-135M-Instruct.Q4_1.gguf   (llama arch)
  gemma3.json           gemma-3-270m-q4_k_m.gguf          (gemma3 arch)
  smollm2_sanity.json   tokenizer-free values dequantized straight from the SmolLM2 GGUF

transformers dequantizes the GGUF to float32 on load (`AutoModelForCausalLM.from_pretrained(
dir, gguf_file=...)`), so these are the logits of the *dequantized* weights computed in fp32 -
what a correct fp32 Swift implementation of the same GGUF should reproduce (up to float
summation order).  The tokenizer is loaded from the same GGUF.

Usage (from the repo root):
    /work/venv/bin/python Tests/Reference/real_model_reference.py [--models DIR] [--out DIR]

Environment used for the committed files: python 3.11, torch 2.15.0 (CPU), transformers 5.24.0,
accelerate 1.15.0 (transformers requires it for gguf_file loading), gguf 0.19.0, numpy 2.4.
Needs: pip install torch transformers accelerate gguf numpy
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

import gguf
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "Tests" / "ModelsTests" / "Fixtures" / "real"
DEFAULT_MODELS = Path("/work/models")

PROMPTS = [
    "The Eiffel Tower is located in the city of",
    "The mother tongue of Danielle Darrieux is",
    "The capital of France is",
    "Hello, my name is",
    "def fibonacci(n):",
]
NAMED_TOKENS = [" Paris", " French"]
GEN_PROMPT = "The capital of France is"
GEN_TOKENS = 16
TOP_K = 20

MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}

torch.set_num_threads(2)


def versions() -> dict:
    v = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}
    for p in ("accelerate", "gguf", "tokenizers", "numpy"):
        try:
            v[p] = version(p)
        except Exception:
            v[p] = None
    return v


def gguf_meta(reader: gguf.GGUFReader, key: str):
    f = reader.fields.get(key)
    if f is None:
        return None
    return f.contents()


def gguf_tensor_f32(reader: gguf.GGUFReader, name: str) -> np.ndarray:
    """Dequantize a GGUF tensor with gguf-py (independent of transformers).
    Result has numpy shape = reversed GGUF ne, i.e. [rows, cols] = [out, in] for linears."""
    for t in reader.tensors:
        if t.name == name:
            arr = gguf.quants.dequantize(t.data, t.tensor_type)
            shape = tuple(int(x) for x in reversed(t.shape.tolist()))
            return np.asarray(arr, dtype=np.float32).reshape(shape)
    raise KeyError(name)


def f32list(x) -> list[float]:
    return [float(v) for v in np.asarray(x, dtype=np.float32).reshape(-1)]


def encode(tok, text: str, add_bos: bool, bos_id: int | None) -> list[int]:
    ids = tok(text, add_special_tokens=False)["input_ids"]
    if add_bos:
        assert bos_id is not None
        ids = [bos_id] + ids
    return ids


@torch.no_grad()
def last_logprobs(model, ids: list[int]) -> torch.Tensor:
    out = model(input_ids=torch.tensor([ids], dtype=torch.long))
    logits = out.logits[0, -1].to(torch.float32)
    return torch.log_softmax(logits, dim=-1)


@torch.no_grad()
def greedy(model, ids: list[int], n: int) -> list[int]:
    """Plain greedy decoding by full re-forward each step; no EOS stopping, no penalties."""
    cur = list(ids)
    new = []
    for _ in range(n):
        logits = model(input_ids=torch.tensor([cur], dtype=torch.long)).logits[0, -1]
        nxt = int(torch.argmax(logits).item())
        new.append(nxt)
        cur.append(nxt)
    return new


def run_model(key: str, models_dir: Path, out_dir: Path) -> dict:
    fname = MODELS[key]
    path = models_dir / fname
    reader = gguf.GGUFReader(str(path))
    arch = gguf_meta(reader, "general.architecture")
    add_bos = bool(gguf_meta(reader, "tokenizer.ggml.add_bos_token"))
    bos_id = gguf_meta(reader, "tokenizer.ggml.bos_token_id")
    eos_id = gguf_meta(reader, "tokenizer.ggml.eos_token_id")

    result: dict = {
        "model_file": fname,
        "gguf_architecture": arch,
        "generator": "Tests/Reference/real_model_reference.py",
        "versions": versions(),
        "how": ("transformers AutoModelForCausalLM.from_pretrained(dir, gguf_file=..., dtype=torch.float32) "
                "(weights dequantized to fp32 on load), eager fp32 CPU forward, batch 1, no padding; tokenizer via "
                "AutoTokenizer.from_pretrained(dir, gguf_file=...)."),
        "caveats": [],
    }

    try:
        tok = AutoTokenizer.from_pretrained(str(models_dir), gguf_file=fname)
        model = AutoModelForCausalLM.from_pretrained(str(models_dir), gguf_file=fname, dtype=torch.float32,
                                                     attn_implementation="eager").eval()
    except Exception as e:  # pragma: no cover - recorded, not hidden
        result["error"] = f"transformers could not load {fname}: {type(e).__name__}: {e}"
        print(result["error"], file=sys.stderr)
        return result

    cfg = model.config
    result["device"] = "cpu"
    result["caveats"].append(
        "fp32 math on weights dequantized by transformers; llama.cpp itself multiplies with quantized weights "
        "(and quantized activations for some types), so llama.cpp logits differ slightly from these")
    if arch == "gemma3":
        result["caveats"].append(
            "transformers builds the Gemma3 config from GGUF metadata plus its own defaults: query_pre_attn_scalar "
            f"{cfg.query_pre_attn_scalar} (not in the GGUF; equals head_dim {cfg.head_dim}, i.e. the same scale "
            "llama.cpp uses), sliding-layer rope theta from the HF default 10000 (llama.cpp hard-codes the same), "
            "layer_types from the default every-6th-layer-global pattern, no final logit softcapping (no GGUF key)")
        result["caveats"].append(
            "Gemma tokenizer is transformers' conversion of the GGUF SentencePiece vocab (not checked against "
            "the original tokenizer.json)")
    result["hf_model_class"] = type(model).__name__
    result["hf_config"] = {k: v for k, v in cfg.to_dict().items() if k in (
        "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_parameters", "rope_theta", "sliding_window",
        "layer_types", "query_pre_attn_scalar", "final_logit_softcapping", "attn_logit_softcapping",
        "tie_word_embeddings", "hidden_act", "hidden_activation", "max_position_embeddings")}
    result["tokenizer"] = {
        "gguf_add_bos_token": add_bos,
        "gguf_bos_token_id": bos_id,
        "gguf_eos_token_id": eos_id,
        "hf_tokenizer_class": type(tok).__name__,
        "rule": ("ids = tokenizer(text, add_special_tokens=False) with the GGUF's bos id prepended iff "
                 "tokenizer.ggml.add_bos_token is true"),
    }

    # the HF tokenizer's own default must agree with the GGUF flag; record either way
    for p in PROMPTS:
        hf_default = tok(p)["input_ids"]
        ours = encode(tok, p, add_bos, bos_id)
        if hf_default != ours:
            result["caveats"].append(f"HF tokenizer default ids differ from the GGUF add_bos rule for {p!r}: "
                                     f"{hf_default} vs {ours}; the file uses the latter")

    # named tokens
    named = {}
    for t in NAMED_TOKENS:
        tids = tok(t, add_special_tokens=False)["input_ids"]
        named[t] = tids
        if len(tids) != 1:
            result["caveats"].append(f"named token {t!r} encodes to {len(tids)} ids {tids}; its first id is used")

    # --- checks on how transformers loaded the weights --------------------------------------
    checks = {}
    if arch == "llama":
        H = cfg.num_attention_heads
        KV = cfg.num_key_value_heads
        for proj, n_head, gname in (("q_proj", H, "blk.0.attn_q.weight"), ("k_proj", KV, "blk.0.attn_k.weight")):
            g = gguf_tensor_f32(reader, gname)  # llama.cpp (permuted) row order
            hf = getattr(model.model.layers[0].self_attn, proj).weight.detach().numpy()
            d = g.shape[0] // n_head
            unperm = g.reshape(n_head, d // 2, 2, g.shape[1]).swapaxes(1, 2).reshape(g.shape)
            same_unperm = bool(np.array_equal(unperm, hf))
            same_raw = bool(np.array_equal(g, hf))
            checks[f"layer0_{proj}_equals_unpermuted_gguf"] = same_unperm
            checks[f"layer0_{proj}_equals_raw_gguf"] = same_raw
            if not same_unperm:
                result["caveats"].append(f"transformers' {proj} is NOT the un-permuted GGUF tensor "
                                         f"(max diff {np.abs(unperm - hf).max():.3e}); raw equal: {same_raw}")
        emb_g = gguf_tensor_f32(reader, "token_embd.weight")
        checks["token_embd_equals_gguf_dequant"] = bool(np.array_equal(emb_g, model.model.embed_tokens.weight.detach().numpy()))
        checks["lm_head_tied_to_token_embd"] = bool(model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
                                                    or torch.equal(model.lm_head.weight, model.model.embed_tokens.weight))
    elif arch == "gemma3":
        g = gguf_tensor_f32(reader, "blk.0.attn_norm.weight")
        hf = model.model.layers[0].input_layernorm.weight.detach().numpy()
        checks["layer0_input_norm_equals_gguf_minus_1"] = bool(np.allclose(hf, g - 1.0, atol=1e-6, rtol=0))
        gq = gguf_tensor_f32(reader, "blk.0.attn_q.weight")
        checks["layer0_q_proj_equals_raw_gguf"] = bool(np.array_equal(gq, model.model.layers[0].self_attn.q_proj.weight.detach().numpy()))
        checks["embed_scale"] = float(model.model.embed_tokens.embed_scale.item())
        if cfg.query_pre_attn_scalar != cfg.head_dim:
            result["caveats"].append(f"query_pre_attn_scalar {cfg.query_pre_attn_scalar} != head_dim {cfg.head_dim}")
        if not checks["layer0_input_norm_equals_gguf_minus_1"]:
            result["caveats"].append("transformers' Gemma norm weight is not (GGUF value - 1)")
    result["load_checks"] = checks

    # --- prompts ------------------------------------------------------------------------------
    prompts_out = []
    for p in PROMPTS:
        ids = encode(tok, p, add_bos, bos_id)
        lp = last_logprobs(model, ids)
        top = torch.topk(lp, TOP_K)
        entry = {
            "prompt": p,
            "token_ids": ids,
            "tokens": tok.convert_ids_to_tokens(ids),
            "top_k": [
                {"id": int(i), "token": tok.convert_ids_to_tokens(int(i)), "text": tok.decode([int(i)]), "logprob": float(v)}
                for v, i in zip(top.values.tolist(), top.indices.tolist())
            ],
            "named_logprobs": {t: {"id": named[t][0], "logprob": float(lp[named[t][0]].item()),
                                   "rank": int((lp > lp[named[t][0]]).sum().item())}
                               for t in NAMED_TOKENS},
            "logsumexp_check": float(torch.logsumexp(lp, 0).item()),
        }
        prompts_out.append(entry)
    result["last_position"] = {"k": TOP_K, "dtype": "float32 log_softmax of the last position's logits",
                               "prompts": prompts_out}

    # --- greedy ---------------------------------------------------------------------------------
    gids = encode(tok, GEN_PROMPT, add_bos, bos_id)
    new = greedy(model, gids, GEN_TOKENS)
    result["greedy"] = {
        "prompt": GEN_PROMPT,
        "prompt_ids": gids,
        "new_tokens": GEN_TOKENS,
        "rule": "argmax of the last logits, full re-forward each step, no EOS stopping, no repetition penalty",
        "new_ids": new,
        "new_text": tok.decode(new),
        "full_text": tok.decode(gids + new, skip_special_tokens=False),
        "contains_eos": eos_id in new,
    }
    # cross-check against transformers' generate() (it may stop early at EOS)
    with torch.no_grad():
        gen = model.generate(torch.tensor([gids]), max_new_tokens=GEN_TOKENS, do_sample=False,
                             attention_mask=torch.ones(1, len(gids), dtype=torch.long))
    gen_new = gen[0, len(gids):].tolist()
    if gen_new != new[: len(gen_new)]:
        result["caveats"].append(f"transformers generate() greedy output {gen_new} differs from the manual loop")

    # sanity: Eiffel -> Paris
    if key == "smollm2":
        e = prompts_out[0]["named_logprobs"][" Paris"]
        result["paris_prob_on_eiffel_prompt"] = math.exp(e["logprob"])

    # --- tokenizer-free sanity file for SmolLM2 ------------------------------------------------------
    if key == "smollm2":
        emb = gguf_tensor_f32(reader, "token_embd.weight")
        onorm = gguf_tensor_f32(reader, "output_norm.weight")
        q0 = gguf_tensor_f32(reader, "blk.0.attn_q.weight")
        down0 = gguf_tensor_f32(reader, "blk.0.ffn_down.weight")
        ttype = {t.name: t.tensor_type.name for t in reader.tensors}
        hf_emb_row = model.model.embed_tokens.weight[504].detach().numpy()
        hf_norm = model.model.norm.weight[:16].detach().numpy()
        assert np.array_equal(emb[504], hf_emb_row), "gguf-py and transformers disagree on the embedding row"
        assert np.array_equal(onorm[:16], hf_norm), "gguf-py and transformers disagree on output_norm"
        sanity = {
            "model_file": fname,
            "generator": "Tests/Reference/real_model_reference.py",
            "versions": versions(),
            "how": ("values dequantized with gguf-py (gguf.quants.dequantize) straight from the GGUF, float32; "
                    "embedding row and output_norm also asserted equal to transformers' loaded weights"),
            "token_embd.weight": {
                "ggml_type": ttype["token_embd.weight"],
                "gguf_ne": [int(x) for x in reader.tensors[[t.name for t in reader.tensors].index("token_embd.weight")].shape],
                "row": 504,
                "row_token": tok.convert_ids_to_tokens(504),
                "values": f32list(emb[504]),
                "sum": float(np.float64(emb[504]).sum()),
            },
            "output_norm.weight": {
                "ggml_type": ttype["output_norm.weight"],
                "first16": f32list(onorm[:16]),
            },
            "blk.0.attn_q.weight": {
                "ggml_type": ttype["blk.0.attn_q.weight"],
                "layout": "GGUF storage order (llama.cpp-permuted rows), row 0 = first 576 contiguous values",
                "row0_first32": f32list(q0[0, :32]),
                "row1_first32": f32list(q0[1, :32]),
            },
            "blk.0.ffn_down.weight": {
                "ggml_type": ttype["blk.0.ffn_down.weight"],
                "layout": "GGUF storage order; numpy shape [576, 1536]; row 0 = first 1536 contiguous values",
                "row0_first32": f32list(down0[0, :32]),
            },
        }
        with open(out_dir / "smollm2_sanity.json", "w") as f:
            json.dump(sanity, f, indent=1)
            f.write("\n")

    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=Path, default=DEFAULT_MODELS)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", default=list(MODELS))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for key in args.only:
        res = run_model(key, args.models, args.out)
        with open(args.out / f"{key}.json", "w") as f:
            json.dump(res, f, indent=1, ensure_ascii=False)
            f.write("\n")
        if "error" in res:
            continue
        p0 = res["last_position"]["prompts"][0]
        print(f"[{key}] Eiffel top-5: " + ", ".join(f"{t['text']!r}:{math.exp(t['logprob']):.3f}" for t in p0["top_k"][:5]))
        print(f"[{key}] p(' Paris' | Eiffel) = {math.exp(p0['named_logprobs'][' Paris']['logprob']):.4f}")
        print(f"[{key}] greedy: {res['greedy']['full_text']!r}")
        print(f"[{key}] load checks: {res['load_checks']}")
        print(f"[{key}] caveats: {res['caveats']}")


if __name__ == "__main__":
    main()
