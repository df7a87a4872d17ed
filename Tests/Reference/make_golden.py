#!/usr/bin/env python3
"""Golden reference fixtures for Locus' Swift model implementations.

Builds tiny, seeded, RANDOM fp32 Hugging Face models for three architectures
(llama, gemma3, gpt2), and for each writes to
Tests/ModelsTests/Fixtures/golden/<arch>/:

  config.json, model.safetensors   Hugging Face format (save_pretrained)
  model.gguf                       the same weights in llama.cpp's GGUF conventions, all F32
  expected.safetensors             activations at TransformerLens-style hook points, logits,
                                   loss and selected gradients (all float32)

plus golden/README.md describing keys, shapes and conventions.

Every activation is recomputed by a hand-written forward pass that calls the HF
model's own modules (norms, linears, rotary tables) and does the attention
arithmetic explicitly so that q/k/rotary/scores/pattern/z are all visible.  The
script asserts that this recomputation agrees with the stock HF forward
(logits, loss, hidden states, attention probabilities, module-level forward-hook
captures, and parameter gradients from HF's own backward pass).

Usage (from the repo root):
    /work/venv/bin/python Tests/Reference/make_golden.py [--out DIR]

Environment used to generate the committed fixtures: python 3.11, torch 2.15.0
(CPU computation), transformers 5.24.0, gguf 0.19.0, safetensors 0.8.0, numpy 2.4,
accelerate 1.15.0 (optional: only for the check that transformers' own GGUF reader
reproduces the logits from model.gguf; skipped without it).
Needs: pip install torch transformers gguf safetensors numpy [accelerate]
Output is byte-for-byte reproducible across runs on the same versions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import gguf
import safetensors.torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    Gemma3TextConfig,
    LlamaConfig,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "Tests" / "ModelsTests" / "Fixtures" / "golden"

SEQ_LEN = 8
VOCAB = 128
CTX = 32
SEED = 1234

torch.set_num_threads(1)  # deterministic reductions
torch.use_deterministic_algorithms(True)


# ----------------------------------------------------------------------------------------
# model construction
# ----------------------------------------------------------------------------------------

def make_config(arch: str):
    if arch == "llama":
        return LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            hidden_act="silu",
            max_position_embeddings=CTX,
            rms_norm_eps=1e-5,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
            attention_bias=False,
            mlp_bias=False,
            tie_word_embeddings=False,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=None,
        )
    if arch == "gemma3":
        layer_types = ["sliding_attention"] * 5 + ["full_attention"]
        return Gemma3TextConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=6,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=32,
            hidden_activation="gelu_pytorch_tanh",
            max_position_embeddings=CTX,
            rms_norm_eps=1e-6,
            rope_parameters={
                "full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
            },
            query_pre_attn_scalar=32,
            sliding_window=3,
            layer_types=layer_types,
            final_logit_softcapping=None,
            attn_logit_softcapping=None,
            attention_bias=False,
            tie_word_embeddings=True,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=None,
        )
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=VOCAB,
            n_embd=64,
            n_layer=2,
            n_head=4,
            n_positions=CTX,
            n_inner=None,  # -> 4 * n_embd = 256
            activation_function="gelu_new",
            layer_norm_epsilon=1e-5,
            tie_word_embeddings=True,
            bos_token_id=0,
            eos_token_id=1,
        )
    raise ValueError(arch)


@torch.no_grad()
def randomize(model, arch: str, gen: torch.Generator):
    """Re-initialise every parameter with seeded values large enough that attention
    patterns are far from uniform and norms have non-trivial weights/biases."""

    def normal_(p, std, mean=0.0):
        p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * std + mean)

    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if name.endswith("embed_tokens.weight") or name.endswith("wte.weight"):
            normal_(p, 0.3)
        elif name.endswith("wpe.weight"):
            normal_(p, 0.3)
        elif "norm" in name or ".ln_" in name or name.startswith("transformer.ln_f"):
            if name.endswith("bias"):
                normal_(p, 0.1)
            elif arch == "gemma3":
                normal_(p, 0.1)  # Gemma RMSNorm scales by (1 + w)
            else:
                normal_(p, 0.1, mean=1.0)
        elif p.dim() == 2:
            # nn.Linear: [out, in]; GPT-2 Conv1D: [in, out]
            fan_in = p.shape[0] if arch == "gpt2" else p.shape[1]
            normal_(p, 1.0 / math.sqrt(fan_in))
        elif name.endswith("bias"):
            normal_(p, 0.1)
        else:
            raise RuntimeError(f"unhandled parameter {name} {tuple(p.shape)}")


def build_model(arch: str):
    cfg = make_config(arch)
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    gen = torch.Generator().manual_seed(SEED + {"llama": 1, "gemma3": 2, "gpt2": 3}[arch])
    randomize(model, arch, gen)
    model.eval()
    return model


def make_inputs(arch: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(SEED + 100 + {"llama": 1, "gemma3": 2, "gpt2": 3}[arch])
    return torch.randint(0, VOCAB, (SEQ_LEN,), generator=gen, dtype=torch.int64)


# ----------------------------------------------------------------------------------------
# explicit forward pass with hook points
# ----------------------------------------------------------------------------------------

def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def attention(rot_q, rot_k, v, scaling, window: int | None):
    """rot_q [T,H,d], rot_k/v [T,KV,d] -> scores [H,T,T] (masked=-inf), pattern, z [T,H,d]."""
    T, H, _ = rot_q.shape
    KV = rot_k.shape[1]
    rep = H // KV
    # HF repeat_kv: query head h uses kv head h // rep
    k_r = rot_k.repeat_interleave(rep, dim=1)
    v_r = v.repeat_interleave(rep, dim=1)
    scores = torch.matmul(rot_q.transpose(0, 1), k_r.permute(1, 2, 0)) * scaling  # [H,T,T]
    qi = torch.arange(T)[:, None]
    ki = torch.arange(T)[None, :]
    allowed = ki <= qi
    if window is not None:
        allowed = allowed & (qi - ki < window)
    scores = scores.masked_fill(~allowed, float("-inf"))
    pattern = torch.softmax(scores, dim=-1, dtype=torch.float32)
    z = torch.matmul(pattern, v_r.transpose(0, 1)).transpose(0, 1)  # [T,H,d]
    return scores, pattern, z


def forward_with_hooks(model, arch: str, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """Returns an ordered dict hook-name -> tensor (batch dimension dropped). Tensors are
    part of the autograd graph (parameters require grad)."""
    cfg = model.config
    c: dict[str, torch.Tensor] = {}
    T = ids.shape[0]
    pos = torch.arange(T)

    if arch == "gpt2":
        tr = model.transformer
        tok = tr.wte(ids)
        pe = tr.wpe(pos)
        c["hook_embed"] = tok
        c["hook_pos_embed"] = pe
        x = tok + pe
        H = cfg.n_head
        D = cfg.n_embd
        dh = D // H
        for l, blk in enumerate(tr.h):
            c[f"blocks.{l}.hook_resid_pre"] = x
            n1 = blk.ln_1(x)
            c[f"blocks.{l}.ln1.hook_normalized"] = n1
            qkv = blk.attn.c_attn(n1)
            q, k, v = qkv.split(D, dim=-1)
            q = q.view(T, H, dh)
            k = k.view(T, H, dh)
            v = v.view(T, H, dh)
            c[f"blocks.{l}.attn.hook_q"] = q
            c[f"blocks.{l}.attn.hook_k"] = k
            c[f"blocks.{l}.attn.hook_v"] = v
            c[f"blocks.{l}.attn.hook_rot_q"] = q
            c[f"blocks.{l}.attn.hook_rot_k"] = k
            scores, pattern, z = attention(q, k, v, blk.attn.scaling, None)
            c[f"blocks.{l}.attn.hook_attn_scores"] = scores
            c[f"blocks.{l}.attn.hook_pattern"] = pattern
            c[f"blocks.{l}.attn.hook_z"] = z
            attn_out = blk.attn.c_proj(z.reshape(T, D))
            c[f"blocks.{l}.hook_attn_out"] = attn_out
            x = x + attn_out
            c[f"blocks.{l}.hook_resid_mid"] = x
            n2 = blk.ln_2(x)
            c[f"blocks.{l}.ln2.hook_normalized"] = n2
            pre = blk.mlp.c_fc(n2)
            c[f"blocks.{l}.mlp.hook_pre"] = pre
            post = blk.mlp.act(pre)
            c[f"blocks.{l}.mlp.hook_post"] = post
            mlp_out = blk.mlp.c_proj(post)
            c[f"blocks.{l}.hook_mlp_out"] = mlp_out
            x = x + mlp_out
            c[f"blocks.{l}.hook_resid_post"] = x
        nf = tr.ln_f(x)
        c["ln_final.hook_normalized"] = nf
        c["logits"] = model.lm_head(nf)
        return c

    m = model.model
    H = cfg.num_attention_heads
    KV = cfg.num_key_value_heads
    dh = getattr(cfg, "head_dim", None) or cfg.hidden_size // H
    x = m.embed_tokens(ids[None])[0]  # Gemma: includes * sqrt(hidden_size)
    c["hook_embed"] = x
    if arch == "llama":
        cos, sin = m.rotary_emb(x[None], pos[None])
        rope = {None: (cos[0], sin[0])}
    else:
        rope = {}
        for lt in sorted(set(cfg.layer_types)):
            cos, sin = m.rotary_emb(x[None], pos[None], lt)
            rope[lt] = (cos[0], sin[0])
    for l, layer in enumerate(m.layers):
        at = layer.self_attn
        c[f"blocks.{l}.hook_resid_pre"] = x
        n1 = layer.input_layernorm(x)
        c[f"blocks.{l}.ln1.hook_normalized"] = n1
        q = at.q_proj(n1).view(T, H, dh)
        k = at.k_proj(n1).view(T, KV, dh)
        v = at.v_proj(n1).view(T, KV, dh)
        c[f"blocks.{l}.attn.hook_q"] = q
        c[f"blocks.{l}.attn.hook_k"] = k
        c[f"blocks.{l}.attn.hook_v"] = v
        if arch == "gemma3":
            lt = cfg.layer_types[l]
            cos, sin = rope[lt]
            qn = at.q_norm(q)
            kn = at.k_norm(k)
            window = cfg.sliding_window if lt == "sliding_attention" else None
        else:
            cos, sin = rope[None]
            qn, kn = q, k
            window = None
        cos_, sin_ = cos[:, None, :], sin[:, None, :]
        rot_q = qn * cos_ + rotate_half(qn) * sin_
        rot_k = kn * cos_ + rotate_half(kn) * sin_
        c[f"blocks.{l}.attn.hook_rot_q"] = rot_q
        c[f"blocks.{l}.attn.hook_rot_k"] = rot_k
        scores, pattern, z = attention(rot_q, rot_k, v, at.scaling, window)
        c[f"blocks.{l}.attn.hook_attn_scores"] = scores
        c[f"blocks.{l}.attn.hook_pattern"] = pattern
        c[f"blocks.{l}.attn.hook_z"] = z
        attn_out = at.o_proj(z.reshape(T, H * dh))
        if arch == "gemma3":
            attn_out = layer.post_attention_layernorm(attn_out)
        c[f"blocks.{l}.hook_attn_out"] = attn_out
        x = x + attn_out
        c[f"blocks.{l}.hook_resid_mid"] = x
        n2 = layer.pre_feedforward_layernorm(x) if arch == "gemma3" else layer.post_attention_layernorm(x)
        c[f"blocks.{l}.ln2.hook_normalized"] = n2
        pre = layer.mlp.gate_proj(n2)
        pre_lin = layer.mlp.up_proj(n2)
        c[f"blocks.{l}.mlp.hook_pre"] = pre
        c[f"blocks.{l}.mlp.hook_pre_linear"] = pre_lin
        post = layer.mlp.act_fn(pre) * pre_lin
        c[f"blocks.{l}.mlp.hook_post"] = post
        mlp_out = layer.mlp.down_proj(post)
        if arch == "gemma3":
            mlp_out = layer.post_feedforward_layernorm(mlp_out)
        c[f"blocks.{l}.hook_mlp_out"] = mlp_out
        x = x + mlp_out
        c[f"blocks.{l}.hook_resid_post"] = x
    nf = m.norm(x)
    c["ln_final.hook_normalized"] = nf
    c["logits"] = model.lm_head(nf)
    return c


def shifted_loss(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    # mean over t = 0..T-2 of CE(logits[t], ids[t+1])
    return F.cross_entropy(logits[:-1], ids[1:], reduction="mean")


# ----------------------------------------------------------------------------------------
# parameter naming helpers
# ----------------------------------------------------------------------------------------

def param_views(model, arch: str) -> dict[str, torch.Tensor]:
    """Named parameters whose gradients are saved, in [out,in] layout (HF, un-permuted)."""
    if arch == "gpt2":
        tr = model.transformer
        D = model.config.n_embd
        return {
            "weight.blk.1.ffn_down": lambda g: g["transformer.h.1.mlp.c_proj.weight"].T,
            "weight.blk.0.attn_q": lambda g: g["transformer.h.0.attn.c_attn.weight"][:, :D].T,
            "weight.token_embd": lambda g: g["transformer.wte.weight"],
        }
    return {
        "weight.blk.1.ffn_down": lambda g: g["model.layers.1.mlp.down_proj.weight"],
        "weight.blk.0.attn_q": lambda g: g["model.layers.0.self_attn.q_proj.weight"],
        "weight.token_embd": lambda g: g["model.embed_tokens.weight"],
    }


GRAD_HOOKS = [
    "blocks.0.hook_resid_post",
    "blocks.1.mlp.hook_post",
    "blocks.1.hook_attn_out",
    "blocks.0.attn.hook_pattern",
    "hook_embed",
]


# ----------------------------------------------------------------------------------------
# verification against stock HF forward/backward
# ----------------------------------------------------------------------------------------

def close(name, a, b, atol=2e-5, rtol=1e-5):
    a = a.detach().float()
    b = b.detach().float()
    if a.shape != b.shape:
        raise AssertionError(f"{name}: shape {tuple(a.shape)} vs {tuple(b.shape)}")
    fin = torch.isfinite(b)
    if not torch.equal(torch.isfinite(a), fin):
        raise AssertionError(f"{name}: finiteness pattern differs")
    d = (a[fin] - b[fin]).abs().max().item() if fin.any() else 0.0
    tol = atol + rtol * b[fin].abs().max().item() if fin.any() else atol
    if d > tol:
        raise AssertionError(f"{name}: max abs diff {d:.3e} > {tol:.3e}")
    return d


def verify(model, arch: str, ids: torch.Tensor, cache: dict, loss: torch.Tensor, grads_manual: dict):
    cfg = model.config
    maxdiff = 0.0
    captured: dict[str, torch.Tensor] = {}
    handles = []

    def hook_out(name):
        def f(mod, inp, out):
            captured[name + ".out"] = (out[0] if isinstance(out, tuple) else out).detach()
            if len(inp) > 0:
                captured[name + ".in"] = inp[0].detach()
        return f

    for mname, mod in model.named_modules():
        leaf = mname.split(".")[-1]
        if leaf in {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                    "post_feedforward_layernorm", "q_proj", "k_proj", "v_proj", "o_proj",
                    "gate_proj", "up_proj", "down_proj", "q_norm", "k_norm", "norm",
                    "ln_1", "ln_2", "ln_f", "c_attn", "c_proj", "c_fc", "lm_head", "self_attn", "mlp", "attn"}:
            handles.append(mod.register_forward_hook(hook_out(mname)))

    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids[None], labels=ids[None], output_hidden_states=True, output_attentions=True)
    for h in handles:
        h.remove()
    out.loss.backward()
    hf_grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)

    maxdiff = max(maxdiff, close("logits", cache["logits"], out.logits[0]))
    maxdiff = max(maxdiff, close("loss", loss, out.loss))
    nL = cfg.num_hidden_layers
    for l in range(nL):
        maxdiff = max(maxdiff, close(f"hidden_states[{l}]", cache[f"blocks.{l}.hook_resid_pre"], out.hidden_states[l][0]))
        maxdiff = max(maxdiff, close(f"attentions[{l}]", cache[f"blocks.{l}.attn.hook_pattern"], out.attentions[l][0]))
    maxdiff = max(maxdiff, close("hidden_states[-1] (after final norm)", cache["ln_final.hook_normalized"], out.hidden_states[-1][0]))

    # module-level captures
    checks = []
    if arch == "gpt2":
        D = cfg.n_embd
        for l in range(nL):
            p = f"transformer.h.{l}"
            qkv = captured[f"{p}.attn.c_attn.out"][0]
            checks += [
                (f"blocks.{l}.ln1.hook_normalized", captured[f"{p}.ln_1.out"][0]),
                (f"blocks.{l}.attn.hook_q", qkv[:, :D].reshape(SEQ_LEN, cfg.n_head, -1)),
                (f"blocks.{l}.attn.hook_k", qkv[:, D:2 * D].reshape(SEQ_LEN, cfg.n_head, -1)),
                (f"blocks.{l}.attn.hook_v", qkv[:, 2 * D:].reshape(SEQ_LEN, cfg.n_head, -1)),
                (f"blocks.{l}.attn.hook_z", captured[f"{p}.attn.c_proj.in"][0].reshape(SEQ_LEN, cfg.n_head, -1)),
                (f"blocks.{l}.hook_attn_out", captured[f"{p}.attn.out"][0]),
                (f"blocks.{l}.ln2.hook_normalized", captured[f"{p}.ln_2.out"][0]),
                (f"blocks.{l}.mlp.hook_pre", captured[f"{p}.mlp.c_fc.out"][0]),
                (f"blocks.{l}.mlp.hook_post", captured[f"{p}.mlp.c_proj.in"][0]),
                (f"blocks.{l}.hook_mlp_out", captured[f"{p}.mlp.out"][0]),
            ]
        checks.append(("ln_final.hook_normalized", captured["transformer.ln_f.out"][0]))
    else:
        H, KV = cfg.num_attention_heads, cfg.num_key_value_heads
        for l in range(nL):
            p = f"model.layers.{l}"
            checks += [
                (f"blocks.{l}.ln1.hook_normalized", captured[f"{p}.input_layernorm.out"][0]),
                (f"blocks.{l}.attn.hook_q", captured[f"{p}.self_attn.q_proj.out"][0].reshape(SEQ_LEN, H, -1)),
                (f"blocks.{l}.attn.hook_k", captured[f"{p}.self_attn.k_proj.out"][0].reshape(SEQ_LEN, KV, -1)),
                (f"blocks.{l}.attn.hook_v", captured[f"{p}.self_attn.v_proj.out"][0].reshape(SEQ_LEN, KV, -1)),
                (f"blocks.{l}.attn.hook_z", captured[f"{p}.self_attn.o_proj.in"][0].reshape(SEQ_LEN, H, -1)),
                (f"blocks.{l}.mlp.hook_pre", captured[f"{p}.mlp.gate_proj.out"][0]),
                (f"blocks.{l}.mlp.hook_pre_linear", captured[f"{p}.mlp.up_proj.out"][0]),
                (f"blocks.{l}.mlp.hook_post", captured[f"{p}.mlp.down_proj.in"][0]),
            ]
            if arch == "gemma3":
                checks += [
                    (f"blocks.{l}.hook_attn_out", captured[f"{p}.post_attention_layernorm.out"][0]),
                    (f"blocks.{l}.ln2.hook_normalized", captured[f"{p}.pre_feedforward_layernorm.out"][0]),
                    (f"blocks.{l}.hook_mlp_out", captured[f"{p}.post_feedforward_layernorm.out"][0]),
                ]
            else:
                checks += [
                    (f"blocks.{l}.hook_attn_out", captured[f"{p}.self_attn.out"][0]),
                    (f"blocks.{l}.ln2.hook_normalized", captured[f"{p}.post_attention_layernorm.out"][0]),
                    (f"blocks.{l}.hook_mlp_out", captured[f"{p}.mlp.out"][0]),
                ]
        checks.append(("ln_final.hook_normalized", captured["model.norm.out"][0]))
    for key, ref in checks:
        maxdiff = max(maxdiff, close(f"{key} vs HF module hook", cache[key], ref))

    # parameter gradients: HF backward vs. our graph
    for n, g in hf_grads.items():
        maxdiff = max(maxdiff, close(f"grad {n}", grads_manual[n], g, atol=1e-5, rtol=1e-4))

    # internal consistency of the hook chain
    for l in range(nL):
        a = cache[f"blocks.{l}.hook_resid_pre"] + cache[f"blocks.{l}.hook_attn_out"]
        close(f"resid_mid[{l}] chain", cache[f"blocks.{l}.hook_resid_mid"], a)
        b = cache[f"blocks.{l}.hook_resid_mid"] + cache[f"blocks.{l}.hook_mlp_out"]
        close(f"resid_post[{l}] chain", cache[f"blocks.{l}.hook_resid_post"], b)
    return maxdiff


# ----------------------------------------------------------------------------------------
# GGUF writer (llama.cpp conventions, all F32)
# ----------------------------------------------------------------------------------------

class Writer(gguf.GGUFWriter):
    """GGUFWriter refuses empty arrays; llama.cpp's 'gpt2' vocab loader requires the
    tokenizer.ggml.merges key to exist, so allow writing it with zero elements."""

    def _pack_val(self, val, vtype, add_vtype, sub_type=None):
        if vtype == gguf.GGUFValueType.ARRAY and len(val) == 0:
            kv = bytearray()
            if add_vtype:
                kv += self._pack("I", vtype)
            kv += self._pack("I", sub_type if sub_type is not None else gguf.GGUFValueType.STRING)
            kv += self._pack("Q", 0)
            return bytes(kv)
        return super()._pack_val(val, vtype, add_vtype, sub_type)


def llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # convert_hf_to_gguf.py LlamaModel.permute (n_head already replaced by n_head_kv for K)
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tensors(model, arch: str) -> list[tuple[str, np.ndarray]]:
    sd = {k: v.detach().cpu().float().numpy().copy() for k, v in model.state_dict().items()}
    cfg = model.config
    out: list[tuple[str, np.ndarray]] = []
    if arch == "gpt2":
        out.append(("token_embd.weight", sd["transformer.wte.weight"]))
        out.append(("position_embd.weight", sd["transformer.wpe.weight"]))
        for l in range(cfg.n_layer):
            p = f"transformer.h.{l}."
            b = f"blk.{l}."
            out += [
                (b + "attn_norm.weight", sd[p + "ln_1.weight"]),
                (b + "attn_norm.bias", sd[p + "ln_1.bias"]),
                (b + "attn_qkv.weight", sd[p + "attn.c_attn.weight"].T),  # Conv1D [in,out] -> [out,in]
                (b + "attn_qkv.bias", sd[p + "attn.c_attn.bias"]),
                (b + "attn_output.weight", sd[p + "attn.c_proj.weight"].T),
                (b + "attn_output.bias", sd[p + "attn.c_proj.bias"]),
                (b + "ffn_norm.weight", sd[p + "ln_2.weight"]),
                (b + "ffn_norm.bias", sd[p + "ln_2.bias"]),
                (b + "ffn_up.weight", sd[p + "mlp.c_fc.weight"].T),
                (b + "ffn_up.bias", sd[p + "mlp.c_fc.bias"]),
                (b + "ffn_down.weight", sd[p + "mlp.c_proj.weight"].T),
                (b + "ffn_down.bias", sd[p + "mlp.c_proj.bias"]),
            ]
        out.append(("output_norm.weight", sd["transformer.ln_f.weight"]))
        out.append(("output_norm.bias", sd["transformer.ln_f.bias"]))
        return out

    H, KV = cfg.num_attention_heads, cfg.num_key_value_heads
    shift = 1.0 if arch == "gemma3" else 0.0  # Gemma3RMSNorm scales by (1 + w); GGUF stores w + 1
    out.append(("token_embd.weight", sd["model.embed_tokens.weight"]))
    for l in range(cfg.num_hidden_layers):
        p = f"model.layers.{l}."
        b = f"blk.{l}."
        q = sd[p + "self_attn.q_proj.weight"]
        k = sd[p + "self_attn.k_proj.weight"]
        if arch == "llama":
            q = llama_permute(q, H)
            k = llama_permute(k, KV)
        out.append((b + "attn_norm.weight", sd[p + "input_layernorm.weight"] + shift))
        out.append((b + "attn_q.weight", q))
        out.append((b + "attn_k.weight", k))
        out.append((b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"]))
        out.append((b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"]))
        if arch == "gemma3":
            out.append((b + "attn_q_norm.weight", sd[p + "self_attn.q_norm.weight"] + shift))
            out.append((b + "attn_k_norm.weight", sd[p + "self_attn.k_norm.weight"] + shift))
            out.append((b + "post_attention_norm.weight", sd[p + "post_attention_layernorm.weight"] + shift))
            out.append((b + "ffn_norm.weight", sd[p + "pre_feedforward_layernorm.weight"] + shift))
            out.append((b + "post_ffw_norm.weight", sd[p + "post_feedforward_layernorm.weight"] + shift))
        else:
            out.append((b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"]))
        out.append((b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"]))
        out.append((b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"]))
        out.append((b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"]))
    out.append(("output_norm.weight", sd["model.norm.weight"] + shift))
    if arch == "llama":
        out.append(("output.weight", sd["lm_head.weight"]))
    return out


def write_gguf(model, arch: str, path: Path):
    cfg = model.config
    K = gguf.Keys
    w = Writer(str(path), arch)  # writes general.architecture
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(f"locus-golden-{arch}")
    if arch == "gpt2":
        w.add_context_length(cfg.n_positions)
        w.add_embedding_length(cfg.n_embd)
        w.add_block_count(cfg.n_layer)
        w.add_feed_forward_length(4 * cfg.n_embd)
        w.add_head_count(cfg.n_head)
        w.add_head_count_kv(cfg.n_head)
        w.add_layer_norm_eps(cfg.layer_norm_epsilon)
    else:
        H = cfg.num_attention_heads
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // H
        w.add_context_length(cfg.max_position_embeddings)
        w.add_embedding_length(cfg.hidden_size)
        w.add_block_count(cfg.num_hidden_layers)
        w.add_feed_forward_length(cfg.intermediate_size)
        w.add_head_count(H)
        w.add_head_count_kv(cfg.num_key_value_heads)
        w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
        if arch == "llama":
            w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
            w.add_rope_dimension_count(head_dim)
        else:
            # llama.cpp: freq_base = global (full-attention) theta; SWA layers use a
            # hard-coded 10000 for gemma3 (matches rope_local_base_freq here).
            w.add_rope_freq_base(cfg.rope_parameters["full_attention"]["rope_theta"])
            w.add_key_length(head_dim)
            w.add_value_length(head_dim)
            w.add_sliding_window(cfg.sliding_window)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    # minimal tokenizer section
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list([f"<t{i}>" for i in range(cfg.vocab_size)])
    w.add_token_types([int(gguf.TokenType.NORMAL)] * cfg.vocab_size)
    w.add_key_value(K.Tokenizer.MERGES, [], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.STRING)
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    for name, arr in gguf_tensors(model, arch):
        w.add_tensor(name, np.ascontiguousarray(arr, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check_gguf(path: Path, model, arch: str):
    r = gguf.GGUFReader(str(path))
    expected = dict(gguf_tensors(model, arch))
    names = [t.name for t in r.tensors]
    assert sorted(names) == sorted(expected), (sorted(names), sorted(expected))
    for t in r.tensors:
        assert t.tensor_type == gguf.GGMLQuantizationType.F32, t.name
        e = expected[t.name]
        assert list(t.shape) == list(reversed(e.shape)), (t.name, list(t.shape), e.shape)  # ne = [in, out]
        assert np.array_equal(np.asarray(t.data).reshape(e.shape), e), t.name
    f = r.fields["tokenizer.ggml.merges"]
    assert len(f.data) == 0
    if arch == "llama":
        # un-permuting llama.cpp's Q layout must give back HF's q_proj
        H = model.config.num_attention_heads
        hf_q = model.model.layers[0].self_attn.q_proj.weight.detach().numpy()
        q = np.asarray(r.get_tensor(names.index("blk.0.attn_q.weight")).data).reshape(hf_q.shape)
        d = hf_q.shape[0] // H
        unperm = q.reshape(H, d // 2, 2, hf_q.shape[1]).swapaxes(1, 2).reshape(hf_q.shape)
        assert np.array_equal(unperm, hf_q)


def check_gguf_with_transformers(d: Path, ids: torch.Tensor, logits: torch.Tensor) -> str:
    """Independent check of the GGUF tensor conventions: transformers' own GGUF reader
    (which un-permutes llama Q/K, subtracts 1 from Gemma norms, splits GPT-2 QKV) must
    reproduce the logits.  The HF config.json is passed explicitly because the GGUF
    metadata cannot express everything (gemma3 query_pre_attn_scalar; transformers maps
    gpt2 context_length to a key GPT2Config no longer reads).  Needs `accelerate`."""
    try:
        import accelerate  # noqa: F401
    except ImportError:
        return "skipped (accelerate not installed)"
    from transformers import AutoConfig
    cfg = AutoConfig.from_pretrained(str(d))
    m = AutoModelForCausalLM.from_pretrained(str(d), gguf_file="model.gguf", config=cfg,
                                             dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        lg = m(input_ids=ids[None]).logits[0]
    diff = close("logits via transformers GGUF loader", lg, logits, atol=5e-5, rtol=0)
    return f"ok (max |diff| {diff:.1e})"


# ----------------------------------------------------------------------------------------

def run_arch(arch: str, outdir: Path) -> dict:
    model = build_model(arch)
    ids = make_inputs(arch)
    d = outdir / arch
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)

    # forward + backward through the explicit hook graph
    for p in model.parameters():
        p.requires_grad_(True)
    model.zero_grad(set_to_none=True)
    cache = forward_with_hooks(model, arch, ids)
    for k in GRAD_HOOKS:
        cache[k].retain_grad()
    loss = shifted_loss(cache["logits"], ids)
    loss.backward()
    grads_manual = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    hook_grads = {f"grad.{k}": cache[k].grad.detach().clone() for k in GRAD_HOOKS}
    model.zero_grad(set_to_none=True)

    maxdiff = verify(model, arch, ids, cache, loss, grads_manual)

    tensors: dict[str, torch.Tensor] = {}
    tensors["input_ids"] = ids.to(torch.float32)
    for k, v in cache.items():
        tensors[k] = v.detach()
    tensors.update(hook_grads)
    for k, fn in param_views(model, arch).items():
        tensors[f"grad.{k}"] = fn(grads_manual)
    tensors["loss"] = loss.detach().reshape(1)
    tensors = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in tensors.items()}
    # a single metadata key: safetensors writes the metadata map in hash order, so more
    # than one key would make the file bytes differ between otherwise identical runs
    meta = {"input_ids": json.dumps(ids.tolist())}
    safetensors.torch.save_file(tensors, str(d / "expected.safetensors"), metadata=meta)

    # HF format
    model.save_pretrained(str(d), safe_serialization=True)
    for extra in ("generation_config.json",):
        if (d / extra).exists():
            (d / extra).unlink()
    # GGUF
    write_gguf(model, arch, d / "model.gguf")
    check_gguf(d / "model.gguf", model, arch)

    # round-trip: reload HF folder and compare logits
    reloaded = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        lg = reloaded(input_ids=ids[None]).logits[0]
    close("reloaded logits", lg, tensors["logits"], atol=1e-6, rtol=0)

    gguf_check = check_gguf_with_transformers(d, ids, tensors["logits"])
    for f in d.iterdir():
        os.chmod(f, 0o644)  # safetensors writes 0600

    sizes = {p.name: p.stat().st_size for p in sorted(d.iterdir())}
    shapes = {k: list(v.shape) for k, v in tensors.items()}
    return {"arch": arch, "ids": ids.tolist(), "loss": loss.item(), "maxdiff": maxdiff, "sizes": sizes,
            "shapes": shapes, "gguf_check": gguf_check, "config": model.config}


# ----------------------------------------------------------------------------------------
# README
# ----------------------------------------------------------------------------------------

HOOK_DOCS = [
    ("input_ids", "[pos]", "the 8 input token ids, stored as float32 (exact small integers); also in the file's __metadata__['input_ids'] as JSON"),
    ("hook_embed", "[pos, d_model]", "token embedding row(s). Gemma: INCLUDES the sqrt(d_model) scale (= 8.0 here). llama/gemma3: this is exactly blocks.0.hook_resid_pre. gpt2: token part only"),
    ("hook_pos_embed", "[pos, d_model]", "gpt2 only: wpe[0..7]; blocks.0.hook_resid_pre = hook_embed + hook_pos_embed"),
    ("blocks.{l}.hook_resid_pre", "[pos, d_model]", "residual stream entering block l"),
    ("blocks.{l}.ln1.hook_normalized", "[pos, d_model]", "output of the block's input norm WITH weight (and gpt2 bias) applied = exact input of the q/k/v projections"),
    ("blocks.{l}.attn.hook_q", "[pos, n_heads, d_head]", "raw q projection (+bias for gpt2), before q-norm / rotary, HF (un-permuted) head_dim order"),
    ("blocks.{l}.attn.hook_k", "[pos, n_kv_heads, d_head]", "raw k projection (gpt2: n_kv_heads = n_heads)"),
    ("blocks.{l}.attn.hook_v", "[pos, n_kv_heads, d_head]", "raw v projection"),
    ("blocks.{l}.attn.hook_rot_q", "[pos, n_heads, d_head]", "q after Gemma q_norm and after rotary = what enters the dot product (gpt2: == hook_q)"),
    ("blocks.{l}.attn.hook_rot_k", "[pos, n_kv_heads, d_head]", "k after Gemma k_norm and rotary (gpt2: == hook_k). Not repeated over GQA groups"),
    ("blocks.{l}.attn.hook_attn_scores", "[n_heads, q_pos, k_pos]", "scaled scores before softmax; masked entries (future, and outside the sliding window on Gemma sliding layers) are -inf"),
    ("blocks.{l}.attn.hook_pattern", "[n_heads, q_pos, k_pos]", "softmax of the scores (masked entries exactly 0)"),
    ("blocks.{l}.attn.hook_z", "[pos, n_heads, d_head]", "pattern @ v (GQA: query head h uses kv head h // (n_heads/n_kv_heads)); the input of o_proj after flattening heads (head-major: column h*d_head + i)"),
    ("blocks.{l}.hook_attn_out", "[pos, d_model]", "o_proj(z) (+bias); Gemma: after post_attention_layernorm. Exactly what is added to the residual"),
    ("blocks.{l}.hook_resid_mid", "[pos, d_model]", "resid_pre + attn_out"),
    ("blocks.{l}.ln2.hook_normalized", "[pos, d_model]", "output of the pre-MLP norm (llama: post_attention_layernorm; Gemma: pre_feedforward_layernorm; gpt2: ln_2)"),
    ("blocks.{l}.mlp.hook_pre", "[pos, d_mlp]", "gated: gate_proj output (pre-activation); gpt2: c_fc output (+bias)"),
    ("blocks.{l}.mlp.hook_pre_linear", "[pos, d_mlp]", "gated only: up_proj output"),
    ("blocks.{l}.mlp.hook_post", "[pos, d_mlp]", "input of the down projection: act(pre) * pre_linear (gpt2: act(pre))"),
    ("blocks.{l}.hook_mlp_out", "[pos, d_model]", "down projection (+bias); Gemma: after post_feedforward_layernorm"),
    ("blocks.{l}.hook_resid_post", "[pos, d_model]", "resid_mid + mlp_out (= next block's resid_pre)"),
    ("ln_final.hook_normalized", "[pos, d_model]", "final norm output (weight/bias applied)"),
    ("logits", "[pos, vocab]", "lm_head output (tied archs: token_embd as lm_head). No softcapping"),
    ("loss", "[1]", "L = mean_{t=0..6} cross_entropy(logits[t], input_ids[t+1]) (natural log)"),
    ("grad.blocks.0.hook_resid_post", "[pos, d_model]", "dL/d(activation)"),
    ("grad.blocks.1.mlp.hook_post", "[pos, d_mlp]", "dL/d(activation)"),
    ("grad.blocks.1.hook_attn_out", "[pos, d_model]", "dL/d(activation) (Gemma: w.r.t. the post-norm output)"),
    ("grad.blocks.0.attn.hook_pattern", "[n_heads, q_pos, k_pos]", "dL/d(pattern) = dL/dz . v for EVERY (q,k) pair, i.e. masked entries are generally NON-zero (the gradient of the tensor, not of the pre-softmax scores). Compare only k<=q (and in-window) if your implementation zeroes them"),
    ("grad.hook_embed", "[pos, d_model]", "dL/d(hook_embed) (Gemma: w.r.t. the already-scaled embedding; gpt2: equals dL/d resid_pre0)"),
    ("grad.weight.blk.1.ffn_down", "[d_model, d_mlp]", "dL/dW of layer-1 down projection, nn.Linear [out, in] layout (gpt2: mlp.c_proj Conv1D grad transposed)"),
    ("grad.weight.blk.0.attn_q", "[n_heads*d_head, d_model]", "dL/dW of layer-0 q projection, [out, in], HF row order (NOT llama.cpp-permuted). gpt2: the q third of c_attn, transposed: c_attn.weight.grad[:, :d_model].T"),
    ("grad.weight.token_embd", "[vocab, d_model]", "dL/dW of the token embedding matrix. Tied archs (gemma3, gpt2): TOTAL gradient of the shared matrix = embedding-lookup part + lm_head part. llama (untied): embedding-lookup part only"),
]


def _ver(pkg: str) -> str:
    from importlib.metadata import version
    try:
        return version(pkg)
    except Exception:
        return "?"


def write_readme(results: list[dict], outdir: Path):
    L = []
    L.append("# Golden reference fixtures (generated; do not edit by hand)\n")
    L.append("Generated by `Tests/Reference/make_golden.py`:\n")
    L.append("```\n/work/venv/bin/python Tests/Reference/make_golden.py   # from the repo root\n```\n")
    L.append(f"Versions: python {sys.version.split()[0]}, torch {torch.__version__} (CPU), transformers "
             f"{transformers.__version__}, gguf (gguf-py) {_ver('gguf')}, safetensors {_ver('safetensors')}, numpy {np.__version__}. "
             f"Seed {SEED}; models are RANDOM (re-initialised: embeddings N(0,0.3^2), linear weights N(0,1/fan_in), "
             "norm weights 1+N(0,0.1^2) (Gemma: stored w ~ N(0,0.1^2), scale = 1+w), biases N(0,0.1^2)).\n")
    L.append("Each `<arch>/` folder holds:\n")
    L.append("* `config.json`, `model.safetensors` - the model in Hugging Face format (`save_pretrained`; tied `lm_head.weight` is not stored).")
    L.append("* `model.gguf` - the same weights in llama.cpp conventions, every tensor F32 (see below).")
    L.append("* `expected.safetensors` - activations/gradients (all float32, batch dimension dropped), keys below.\n")
    L.append("## Models\n")
    L.append("| arch | HF class | d_model | layers | heads | kv heads | d_head | d_mlp | vocab | other |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        c = r["config"]
        a = r["arch"]
        if a == "gpt2":
            L.append(f"| gpt2 | GPT2LMHeadModel | {c.n_embd} | {c.n_layer} | {c.n_head} | {c.n_head} | {c.n_embd // c.n_head} | {4 * c.n_embd} | {c.vocab_size} | "
                     f"LayerNorm eps {c.layer_norm_epsilon}, learned positions (n_positions {c.n_positions}), GELU tanh-approx (`gelu_new`), biases everywhere, tied lm_head, scale 1/sqrt(d_head) |")
        elif a == "llama":
            L.append(f"| llama | LlamaForCausalLM | {c.hidden_size} | {c.num_hidden_layers} | {c.num_attention_heads} | {c.num_key_value_heads} | {c.hidden_size // c.num_attention_heads} | {c.intermediate_size} | {c.vocab_size} | "
                     f"RMSNorm eps {c.rms_norm_eps}, RoPE theta {c.rope_parameters['rope_theta']:g} (HF rotate-half on HF q/k layout), SiLU gated MLP, UNtied lm_head, scale 1/sqrt(d_head) |")
        else:
            L.append(f"| gemma3 | Gemma3ForCausalLM | {c.hidden_size} | {c.num_hidden_layers} | {c.num_attention_heads} | {c.num_key_value_heads} | {c.head_dim} | {c.intermediate_size} | {c.vocab_size} | "
                     f"RMSNorm eps {c.rms_norm_eps} scale (1+w) on input/post-attn/pre-ffn/post-ffn/q/k/final norms; embeddings * sqrt({c.hidden_size}); "
                     f"layer_types = 5 x sliding (window {c.sliding_window}: key k visible to query q iff q-{c.sliding_window} < k <= q) + layer 5 full; "
                     f"RoPE theta {c.rope_parameters['sliding_attention']['rope_theta']:g} on sliding layers, {c.rope_parameters['full_attention']['rope_theta']:g} on the full layer (rotate-half); "
                     f"scale = query_pre_attn_scalar^-0.5 = {c.query_pre_attn_scalar}^-0.5 (= 1/sqrt(d_head), as llama.cpp assumes); GELU tanh-approx gated MLP; no softcapping; tied lm_head |")
    L.append("")
    L.append("| arch | input_ids | loss | files (bytes) |")
    L.append("|---|---|---|---|")
    for r in results:
        files = ", ".join(f"{k} {v}" for k, v in r["sizes"].items())
        L.append(f"| {r['arch']} | `{r['ids']}` | {r['loss']:.6f} | {files} |")
    L.append("")
    L.append("## Verification done by the script\n")
    L.append("The activations come from an explicit forward pass that calls the HF model's own modules "
             "(norms, linears, rotary cos/sin) and does the attention arithmetic explicitly. The script asserts "
             "that it matches the stock HF eager forward: logits, loss (HF `labels=` loss), every hidden state, "
             "every attention-probability tensor, forward-hook captures of every norm/projection module, and every "
             "parameter gradient from HF's own backward; that resid_mid/resid_post equal the sums of their parts; "
             "that every GGUF tensor reads back bit-identically with ne = reversed numpy shape; that un-permuting "
             "the llama GGUF Q gives HF's q_proj; and that loading `model.gguf` with transformers' GGUF reader "
             "(plus `config.json`) reproduces the logits:\n")
    for r in results:
        L.append(f"* {r['arch']}: max |explicit - HF| = {r['maxdiff']:.1e}; transformers GGUF reload: {r['gguf_check']}")
    L.append("")
    L.append("## expected.safetensors keys\n")
    L.append("`{l}` runs over all layers. Shapes per arch (pos = 8):\n")
    dims = {}
    for r in results:
        c = r["config"]
        if r["arch"] == "gpt2":
            dims["gpt2"] = dict(d_model=c.n_embd, n_heads=c.n_head, n_kv_heads=c.n_head, d_head=c.n_embd // c.n_head, d_mlp=4 * c.n_embd, vocab=c.vocab_size, layers=c.n_layer)
        else:
            H = c.num_attention_heads
            dh = getattr(c, "head_dim", None) or c.hidden_size // H
            dims[r["arch"]] = dict(d_model=c.hidden_size, n_heads=H, n_kv_heads=c.num_key_value_heads, d_head=dh, d_mlp=c.intermediate_size, vocab=c.vocab_size, layers=c.num_hidden_layers)
    archs = [r["arch"] for r in results]
    L.append("| key | shape | " + " | ".join(archs) + " | meaning |")
    L.append("|---|---|" + "---|" * len(archs) + "---|")
    for key, shape, doc in HOOK_DOCS:
        cells = []
        for r in results:
            k0 = key.replace("{l}", "0")
            if k0 in r["shapes"]:
                cells.append(str(r["shapes"][k0]))
            elif key.replace("{l}", "1") in r["shapes"]:
                cells.append(str(r["shapes"][key.replace("{l}", "1")]))
            else:
                cells.append("-")
        L.append(f"| `{key}` | {shape} | " + " | ".join(cells) + f" | {doc} |")
    L.append("")
    L.append("Per-arch dimensions: " + "; ".join(f"{a}: " + ", ".join(f"{k}={v}" for k, v in d.items()) for a, d in dims.items()) + ".\n")
    L.append("## GGUF conventions (`model.gguf`)\n")
    L.append("* Written with `gguf.GGUFWriter`, GGUF v3, little-endian, all tensors F32 (`general.file_type` = 0). "
             "Linear weights are written as numpy [out, in] arrays, so GGUF `ne = [in, out]`; embeddings `ne = [d_model, vocab]`.")
    L.append("* Tensor names as in llama.cpp (`gguf-py` constants / `convert_hf_to_gguf.py`): `token_embd.weight`, "
             "`blk.N.attn_norm`, `attn_q`, `attn_k`, `attn_v`, `attn_output`, `ffn_norm`, `ffn_gate`, `ffn_up`, `ffn_down`, "
             "`output_norm.weight`; `output.weight` only for llama (untied; gemma3/gpt2 are tied and have no `output.weight`, "
             "as in the real SmolLM2/Gemma-3 GGUFs - note llama.cpp's own GPT-2 converter would emit it, this file omits it).")
    L.append("* llama: `attn_q`/`attn_k` rows permuted exactly like `LlamaModel.permute` in convert_hf_to_gguf.py "
             "(`w.reshape(n_head, 2, d_head//2, in).swapaxes(1, 2).reshape(w.shape)`, n_head = head_count_kv for K): "
             "GGUF row `h*d_head + 2*i + j` = HF row `h*d_head + j*d_head/2 + i`. llama.cpp then applies interleaved-pair RoPE "
             "(pairs 2i,2i+1), which is equivalent to HF rotate-half on un-permuted rows. All `hook_q/k/rot_q/rot_k` and "
             "`grad.weight.blk.0.attn_q` in expected.safetensors use the HF (un-permuted) order.")
    L.append("* gemma3: extra `blk.N.attn_q_norm`, `attn_k_norm`, `post_attention_norm`, `post_ffw_norm`; `ffn_norm` is the "
             "pre-feedforward norm. Every Gemma RMSNorm weight (incl. q/k norms and `output_norm`) is stored as (w + 1), "
             "as llama.cpp's converter does, so GGUF norm weights are plain multipliers. No Q/K permutation (NEOX rope).")
    L.append("* gpt2: `position_embd.weight` [n_positions rows]; `attn_qkv.{weight,bias}` fused [3*d_model, d_model] "
             "(rows q|k|v; HF Conv1D weights transposed to [out, in]); `attn_output`, `ffn_up`, `ffn_down` (+ `.bias`), "
             "`attn_norm.{weight,bias}`, `ffn_norm.{weight,bias}`, `output_norm.{weight,bias}`.")
    L.append("* Metadata: `general.architecture`, `general.type`, `general.name`, `general.file_type`, `<arch>.context_length` (32), "
             "`.embedding_length`, `.block_count`, `.feed_forward_length`, `.attention.head_count`, `.attention.head_count_kv`, "
             "`.attention.layer_norm_rms_epsilon` (llama, gemma3) or `.attention.layer_norm_epsilon` (gpt2), "
             "`.rope.freq_base` (llama 10000; gemma3 1e6 = the FULL-attention base - llama.cpp hard-codes 10000 for gemma3 "
             "sliding layers), `.rope.dimension_count` (llama), `.attention.key_length`/`.value_length` and "
             "`.attention.sliding_window` (gemma3), `<arch>.vocab_size`. gemma3 has no query_pre_attn_scalar key: "
             "llama.cpp uses 1/sqrt(key_length), which equals this model's scale.")
    L.append("* Tokenizer stub: `tokenizer.ggml.model` = \"gpt2\", `.pre` = \"default\", `.tokens` = [\"<t0>\", ..., \"<t127>\"], "
             "`.token_type` all 1 (INT32 array), `.merges` = EMPTY string array (count 0; written by a small GGUFWriter "
             "subclass because gguf-py refuses empty arrays, while llama.cpp's gpt2 vocab loader requires the key), "
             "`.bos_token_id` 0, `.eos_token_id` 1.")
    L.append("")
    (outdir / "README.md").write_text("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--arch", nargs="*", default=["llama", "gemma3", "gpt2"])
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for arch in args.arch:
        r = run_arch(arch, args.out)
        results.append(r)
        print(f"[{arch}] ids={r['ids']} loss={r['loss']:.6f} max|ours-HF|={r['maxdiff']:.2e} "
              f"gguf-reload={r['gguf_check']} files={r['sizes']} total={sum(r['sizes'].values())}")
    if sorted(args.arch) == sorted(["llama", "gemma3", "gpt2"]):
        write_readme(results, args.out)


if __name__ == "__main__":
    main()
