#!/usr/bin/env python3
"""Tiny SAEs in SAELens's on-disk format (cfg.json + sae_weights.safetensors) and what SAELens 6.18
computes for them, for Tests/ProbingTests/SparseAutoencoderTests.swift.

The expected numbers are a NumPy transcription of SAELens 6.18's inference code (sae_lens/saes/sae.py:
process_sae_in, _setup_activation_normalization; standard_sae.py, jumprelu_sae.py, topk_sae.py encode
and decode), written independently of Locus's Swift. Run: python3 Tests/Reference/make_sae_fixtures.py
(NumPy only; writes Tests/ModelsTests/Fixtures/sae/<name>/, beside the golden models).
"""
import json, os, struct
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "ModelsTests", "Fixtures", "sae")


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def norm_in(x, kind, d_in):
    if kind == "constant_norm_rescale":
        c = np.sqrt(d_in) / np.linalg.norm(x, axis=-1, keepdims=True)
        return x * c, ("c", c)
    if kind == "layer_norm":
        mu = x.mean(-1, keepdims=True)
        x = x - mu
        sd = x.std(-1, ddof=1, keepdims=True)   # torch.std is unbiased by default
        return x / (sd + 1e-5), ("ln", mu, sd)
    return x, None


def norm_out(x, state):
    if state is None:
        return x
    if state[0] == "c":
        return x / state[1]
    return x * state[2] + state[1]


def run(cfg, w, x):
    x = x.astype(np.float32)
    xn, state = norm_in(x, cfg["normalize_activations"], cfg["d_in"])
    sae_in = xn - w["b_dec"] * float(cfg["apply_b_dec_to_input"])
    pre = sae_in @ w["W_enc"] + w["b_enc"]
    arch = cfg["architecture"]
    dec_norms = np.linalg.norm(w["W_dec"], axis=-1)
    if arch == "standard":
        f = np.maximum(pre, 0)
    elif arch == "jumprelu":
        f = np.maximum(pre, 0) * (pre > w["threshold"])
    else:
        h = pre * dec_norms if cfg.get("rescale_acts_by_decoder_norm") else pre
        f = np.zeros_like(h)
        idx = np.argsort(-h, axis=-1, kind="stable")[:, : cfg["k"]]
        for r in range(h.shape[0]):
            f[r, idx[r]] = np.maximum(h[r, idx[r]], 0)
    fd = f / dec_norms if arch == "topk" and cfg.get("rescale_acts_by_decoder_norm") else f
    recon = norm_out(fd @ w["W_dec"] + w["b_dec"], state)
    return pre, f, recon


def main():
    rng = np.random.RandomState(0)
    d_in, d_sae = 8, 16
    cases = {
        "standard": {"architecture": "standard", "apply_b_dec_to_input": True, "normalize_activations": "none"},
        "jumprelu": {"architecture": "jumprelu", "apply_b_dec_to_input": False, "normalize_activations": "constant_norm_rescale"},
        "topk": {"architecture": "topk", "apply_b_dec_to_input": True, "normalize_activations": "layer_norm", "k": 3,
                 "rescale_acts_by_decoder_norm": True},
    }
    x = rng.randn(3, d_in).astype(np.float32) * 2
    for name, extra in cases.items():
        cfg = {"d_in": d_in, "d_sae": d_sae, "dtype": "float32", "device": "cpu", "reshape_activations": "none",
               "metadata": {"model_name": "tiny", "hook_name": "blocks.1.hook_resid_post", "sae_lens_version": "6.18.0"}}
        cfg.update(extra)
        w = {"W_enc": rng.randn(d_in, d_sae).astype(np.float32) * 0.5, "W_dec": rng.randn(d_sae, d_in).astype(np.float32) * 0.5,
             "b_enc": rng.randn(d_sae).astype(np.float32) * 0.1, "b_dec": rng.randn(d_in).astype(np.float32) * 0.1}
        if name == "jumprelu":
            w["threshold"] = np.abs(rng.randn(d_sae).astype(np.float32)) * 0.3
        pre, f, recon = run(cfg, w, x)
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "cfg.json"), "w") as fh:
            json.dump(cfg, fh, indent=1)
        save_safetensors(os.path.join(d, "sae_weights.safetensors"), w)
        with open(os.path.join(d, "expected.json"), "w") as fh:
            json.dump({"x": x.tolist(), "pre": pre.tolist(), "features": f.tolist(), "reconstruction": recon.tolist()}, fh)


if __name__ == "__main__":
    main()
