#!/usr/bin/env python3
"""Make the reference fixtures for Locus's GGML dequantizers (Tests/ModelFormatsTests/DequantizeTests.swift).

What it writes, under Tests/ModelFormatsTests/Fixtures/quants/:

  <TYPE>.bin / <TYPE>.f32   for every type Locus dequantizes (F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0
                            Q2_K Q3_K Q4_K Q5_K Q6_K Q8_K): a few blocks of raw GGUF tensor bytes and
                            their Float32 values (little-endian) as `gguf.quants.dequantize` gives them.
      - F32, F16, BF16: 1024 seeded normal values at mixed magnitudes plus special values
        (+-0, +-inf, subnormals, the largest finite, a quiet NaN), encoded with `gguf.quants.quantize`.
      - Q4_0 Q4_1 Q5_0 Q5_1 Q8_0: 8 blocks quantized by `gguf.quants.quantize` from seeded normal data
        (one block all zeros, so d = 0), then 4 hand-built blocks.
      - Q2_K Q3_K Q4_K Q5_K Q6_K Q8_K (gguf cannot quantize these): 6 hand-built blocks.
      Hand-built blocks are random bytes whose scale fields (d, and dmin / m where the type has one)
      are overwritten with finite values, including negative, zero, -0 and subnormal-f16 scales.
      Q8_K: the gguf package has no Q8_K dequantizer at all, so its reference is computed here with
      numpy following ggml's `dequantize_row_q8_K` (x = d * q, d a Float32).

  Q8_0_quantize_input.f32 / Q8_0_quantize_expected.bin
      Floats and the bytes `gguf.quants.quantize(..., Q8_0)` makes of them (bit-exact with ggml's
      quantize_row_q8_0_ref). Includes round-half-away ties, an all-zero block, a block whose scale
      underflows f16 and one whose scale overflows it.

  F16_encode_input.f32 / F16_encode_expected.bin
      Floats and numpy's float16 encoding of them (round to nearest, ties to even), including exact
      ties, overflow to infinity and subnormal results.

How to run (from the repository root; uses only numpy and gguf, deterministic via a fixed seed):

    /work/venv/bin/python Tests/Reference/make_quant_fixtures.py

Re-running rewrites identical files (with the same numpy and gguf versions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

OUT = Path(__file__).resolve().parent.parent / "ModelFormatsTests" / "Fixtures" / "quants"
SEED = 20250611

# Byte offsets of the f16 scale fields in each block type (ggml-common.h), as (d, second) where
# "second" is dmin (K-quants) or m (Q4_1, Q5_1), or None.
SCALE_FIELDS: dict[T, tuple[int, int | None]] = {
    T.Q4_0: (0, None),
    T.Q4_1: (0, 2),
    T.Q5_0: (0, None),
    T.Q5_1: (0, 2),
    T.Q8_0: (0, None),
    T.Q2_K: (80, 82),
    T.Q3_K: (108, None),
    T.Q4_K: (0, 2),
    T.Q5_K: (0, 2),
    T.Q6_K: (208, None),
    T.Q8_K: (0, None),  # a Float32, not an f16
}

# (d, second) for the hand-built blocks, in order: ordinary, negative d, zero d with negative
# second, large d with zero second, subnormal-f16 d with -0 second, negative d and negative second.
HAND_SCALES: list[tuple[float, float]] = [
    (0.0123, 0.0041),
    (-0.0217, 0.0089),
    (0.0, -0.0032),
    (0.75, 0.0),
    (1.5e-5, -0.0),
    (-0.0061, -0.0157),
]


def as_f16_bytes(x: float) -> bytes:
    return np.array([x], dtype="<f2").tobytes()


def hand_built_blocks(rng: np.random.Generator, qtype: T, n: int) -> bytes:
    """n blocks of random bytes with sensible, finite scale fields (HAND_SCALES[:n])."""
    _, type_size = GGML_QUANT_SIZES[qtype]
    d_at, second_at = SCALE_FIELDS[qtype]
    out = bytearray()
    for d, second in HAND_SCALES[:n]:
        block = bytearray(rng.integers(0, 256, size=type_size, dtype=np.uint8).tobytes())
        if qtype == T.Q8_K:
            block[d_at:d_at + 4] = np.array([d], dtype="<f4").tobytes()
        else:
            block[d_at:d_at + 2] = as_f16_bytes(d)
        if second_at is not None:
            block[second_at:second_at + 2] = as_f16_bytes(second)
        out += block
    return bytes(out)


def dequantize_q8_k(raw: bytes) -> np.ndarray:
    """ggml's dequantize_row_q8_K: block = d (f32) | qs[256] (int8) | bsums[16] (int16); x = d * q."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 292)
    d = blocks[:, 0:4].copy().view("<f4").astype(np.float32)  # (n, 1)
    q = blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(-1).astype(np.float32)


def reference(raw: bytes, qtype: T) -> np.ndarray:
    if qtype == T.Q8_K:
        return dequantize_q8_k(raw)
    values = dequantize(np.frombuffer(raw, dtype=np.uint8).copy(), qtype)
    return np.asarray(values, dtype=np.float32).reshape(-1)


def plain_values(rng: np.random.Generator) -> np.ndarray:
    """1024 float32 values: normals at mixed magnitudes, then special values."""
    scales = np.repeat(np.array([1.0, 0.02, 30.0, 1e-4], dtype=np.float32), 256)
    values = (rng.standard_normal(1024).astype(np.float32) * scales).astype(np.float32)
    specials = np.array(
        [0.0, -0.0, np.inf, -np.inf, 65504.0, -65504.0, 2.0**-24, -(2.0**-24), 6.0e-5, 2.0**-14,
         1e-30, 3.0e38, np.float32(np.nan)],
        dtype=np.float32,
    )
    values[: len(specials)] = specials
    return values


def block32_data(rng: np.random.Generator) -> np.ndarray:
    """8 blocks of 32 values for gguf to quantize: mixed magnitudes, one all-zero block."""
    scales = [1.0, 0.05, 3.0, 0.002, 0.0, 0.4, 12.0, 0.01]
    blocks = [rng.standard_normal(32).astype(np.float32) * np.float32(s) for s in scales]
    blocks[5] -= np.float32(1.0)  # mostly negative block
    return np.concatenate(blocks).astype(np.float32)


def q8_0_quantize_input(rng: np.random.Generator) -> np.ndarray:
    blocks = [rng.standard_normal(32).astype(np.float32) * np.float32(s) for s in (1.0, 0.03, 250.0)]
    # amax = 127 so d = 1 and id = 1: every other value is an exact tie x.5 (ties go away from zero).
    ties = np.array([127.0] + [k + 0.5 for k in range(-15, 16)], dtype=np.float32)
    # the largest magnitude is negative
    negative = rng.standard_normal(32).astype(np.float32)
    negative[7] = -9.0
    zeros = np.zeros(32, dtype=np.float32)
    tiny = rng.standard_normal(32).astype(np.float32) * np.float32(1e-7)  # d underflows to f16 0
    huge = rng.standard_normal(32).astype(np.float32) * np.float32(1e7)  # d overflows to f16 inf
    return np.concatenate(blocks + [ties, negative, zeros, tiny, huge]).astype(np.float32)


def f16_encode_input(rng: np.random.Generator) -> np.ndarray:
    normals = (rng.standard_normal(256).astype(np.float32)
               * np.repeat(np.array([1.0, 1e-3, 300.0, 1e-6], dtype=np.float32), 64)).astype(np.float32)
    specials = np.array(
        [
            1.0 + 2.0**-11,          # tie between 1 and 1 + 2^-10: to even (1)
            1.0 + 3 * 2.0**-11,      # tie: to even (1 + 2^-9)
            -(1.0 + 3 * 2.0**-11),
            2048.0 + 1.0,            # tie between 2048 and 2050: to 2048
            2048.0 + 3.0,            # tie: to 2052
            65519.0,                 # largest value that still rounds to 65504
            65520.0,                 # rounds to infinity
            1e6, -1e6, np.inf, -np.inf,
            2.0**-25,                # tie between 0 and the smallest subnormal: to 0
            3 * 2.0**-25,            # tie: to 2^-23
            2.0**-24, 1e-10, -1e-10, 0.0, -0.0,
            2.0**-14 - 2.0**-25,     # just under the smallest normal
            6.1e-5, 0.1, 1.0 / 3.0,
        ],
        dtype=np.float32,
    )
    return np.concatenate([specials, normals]).astype(np.float32)


def write(name: str, data: bytes) -> None:
    (OUT / name).write_bytes(data)


def main() -> None:
    rng = np.random.default_rng(SEED)
    OUT.mkdir(parents=True, exist_ok=True)

    for qtype in (T.F32, T.F16, T.BF16):
        with np.errstate(all="ignore"):  # 3e38 overflows F16 to inf, on purpose
            raw = np.asarray(quantize(plain_values(rng), qtype)).tobytes()
        write(f"{qtype.name}.bin", raw)
        write(f"{qtype.name}.f32", reference(raw, qtype).astype("<f4").tobytes())

    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
        with np.errstate(all="ignore"):
            raw = np.asarray(quantize(block32_data(rng), qtype)).tobytes()
        raw += hand_built_blocks(rng, qtype, 4)
        write(f"{qtype.name}.bin", raw)
        write(f"{qtype.name}.f32", reference(raw, qtype).astype("<f4").tobytes())

    for qtype in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K):
        raw = hand_built_blocks(rng, qtype, 6)
        write(f"{qtype.name}.bin", raw)
        write(f"{qtype.name}.f32", reference(raw, qtype).astype("<f4").tobytes())

    q8_input = q8_0_quantize_input(rng)
    with np.errstate(all="ignore"):
        q8_bytes = np.asarray(quantize(q8_input, T.Q8_0)).tobytes()
    write("Q8_0_quantize_input.f32", q8_input.astype("<f4").tobytes())
    write("Q8_0_quantize_expected.bin", q8_bytes)

    f16_input = f16_encode_input(rng)
    with np.errstate(all="ignore"):
        f16_bytes = f16_input.astype("<f2").tobytes()
    write("F16_encode_input.f32", f16_input.astype("<f4").tobytes())
    write("F16_encode_expected.bin", f16_bytes)

    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
