#!/usr/bin/env python3
"""Opens every kind of HDF5 file Locus writes with h5py (Debian's python3-h5py) and checks that it
reads naturally: string attributes come back as `str` (variable-length UTF-8), lists as integer or
string arrays, and each file carries `locus_version`, `model_sha256` and `command`.

Usage: check_files.py FOLDER   (the folder Tests/LocusCLITests/H5pyTests.swift fills; also an example of
reading Locus's files from Python). Exits 1 with one line per problem.
"""
import sys
import h5py
import numpy as np

problems = []


def check(cond, where, what):
    if not cond:
        problems.append(f"{where}: {what}")


def walk_attributes(f, path):
    """Every attribute of every object: no bytes, no fixed-length strings."""
    def visit(name, obj):
        for key, value in obj.attrs.items():
            where = f"{path}:{obj.name} attribute {key}"
            check(not isinstance(value, (bytes, np.bytes_)), where, f"is bytes ({value!r:.60}), expected str")
            if isinstance(value, np.ndarray):
                check(value.dtype.kind in "iuf" or value.dtype == object, where, f"array of dtype {value.dtype}")
                if value.dtype == object:
                    check(all(isinstance(v, str) for v in value.flat), where, "string array with non-str items")
    visit("/", f)
    f.visititems(visit)


def common(f, path):
    for key in ("locus_version", "model_sha256", "command"):
        check(key in f.attrs, path, f"root attribute {key} missing")
        if key in f.attrs:
            check(isinstance(f.attrs[key], str), path, f"root attribute {key} is {type(f.attrs[key]).__name__}, expected str")
    sha = f.attrs.get("model_sha256", "")
    check(isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha), path, f"model_sha256 {sha!r} is not a sha256")
    walk_attributes(f, path)


def dataset(f, path, name, kind, rank=None, shape=None):
    where = f"{path}:/{name}"
    check(name in f, where, "missing")
    if name not in f:
        return None
    d = f[name]
    check(isinstance(d, h5py.Dataset), where, "is not a dataset")
    check(d.dtype.kind == kind[0] and d.dtype.itemsize == int(kind[1:]), where, f"dtype {d.dtype}, expected {kind}")
    if rank is not None:
        check(d.ndim == rank, where, f"rank {d.ndim}, expected {rank}")
    if shape is not None:
        check(d.shape == shape, where, f"shape {d.shape}, expected {shape}")
    return d


def int_array(attrs, where, key, rank=1):
    v = attrs.get(key)
    check(isinstance(v, np.ndarray) and v.dtype == np.int64 and v.ndim == rank, where, f"attribute {key} = {v!r:.60}, expected an int64 array of rank {rank}")
    return v


def str_array(attrs, where, key):
    v = attrs.get(key)
    check(isinstance(v, np.ndarray) and v.dtype == object and all(isinstance(s, str) for s in v), where, f"attribute {key} = {v!r:.60}, expected an array of str")
    return v


def activation_cache(f, path):
    ids = dataset(f, path, "prompt_ids", "i8", rank=2)
    check("activations" in f and len(f["activations"]) >= 2, path, "expected ≥ 2 captured hooks under /activations")
    for name, d in f.get("activations", {}).items():
        where = f"{path}:/activations/{name}"
        check(d.dtype == np.float32, where, f"dtype {d.dtype}")
        check(d.attrs.get("hook") == name, where, "attribute hook is not the dataset's name")
        a = int_array(d.attrs, where, "prompt_ids", rank=2)
        if ids is not None and a is not None:
            check(np.array_equal(a, ids[()]), where, "attribute prompt_ids differs from /prompt_ids")


def trace(f, path):
    tokens = str_array(f.attrs, path, "tokens")
    positions = int_array(f.attrs, path, "positions")
    T = len(tokens) if tokens is not None else None
    check(positions is not None and len(positions) == T, path, "positions are not one per token")
    str_array(f.attrs, path, "target_pieces")
    for kind in ("hidden", "mlp", "attn"):
        dataset(f, path, f"restored/{kind}", "f8", shape=(T, f.attrs.get("layers")) if T else None)
        dataset(f, path, f"indirect_effect/{kind}", "f8", rank=2)
    dataset(f, path, "prompt_ids", "i8", shape=(T,) if T else None)


def lens(f, path):
    str_array(f.attrs, path, "tokens")
    str_array(f.attrs, path, "layers")
    dataset(f, path, "top_ids", "i8", rank=3)
    dataset(f, path, "top_probabilities", "f8", rank=3)
    dataset(f, path, "prompt_ids", "i8", rank=1)


def statistics(f, path):
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    check(any(f[n].ndim == 2 for n in names), path, f"no second-moment matrix among {names}")
    for n in names:
        d = f[n]
        if d.ndim == 2:
            check(d.shape[0] == d.shape[1], f"{path}:/{n}", f"shape {d.shape} is not square")


def ledger(f, path):
    check(isinstance(f.attrs.get("format"), str), path, "format is not a str")
    check(int(f.attrs.get("edit_count", 0)) >= 1, path, "edit_count < 1")


def interventions(f, path):
    groups = list(f.get("interventions", {}).keys())
    check(len(groups) == 2, path, f"expected 2 interventions, found {groups}")
    for g in groups:
        a = f["interventions"][g].attrs
        where = f"{path}:/interventions/{g}"
        check(isinstance(a.get("hook"), str), where, "hook is not a str")
        p = a.get("positions")
        check(p == "all" or (isinstance(p, np.ndarray) and p.dtype == np.int64), where, f"positions {p!r}: expected 'all' or int64 array")


def dla(f, path):
    parts = str_array(f.attrs, path, "parts")
    n = len(parts) if parts is not None else None
    c = dataset(f, path, "contribution", "f8", shape=(n,) if n else None)
    dataset(f, path, "layer", "i8", shape=(n,) if n else None)
    dataset(f, path, "head", "i8", shape=(n,) if n else None)
    if c is not None:
        check(abs(c[()].sum() - f.attrs["uncapped_difference"]) < 1e-3 * max(1, abs(f.attrs["uncapped_difference"])), path, "parts do not sum to the difference")


def patch(f, path):
    tokens = str_array(f.attrs, path, "clean_tokens")
    str_array(f.attrs, path, "corrupted_tokens")
    T = len(tokens) if tokens is not None else None
    for site in ("resid_pre", "attn_out", "mlp_out"):
        d = dataset(f, path, f"effect/{site}", "f8", rank=2)
        if d is not None and T:
            check(d.shape[0] == T, f"{path}:/effect/{site}", f"shape {d.shape}: not one row per token")
    dataset(f, path, "heads", "f8", rank=2)
    dataset(f, path, "clean_ids", "i8", shape=(T,) if T else None)


def steer(f, path):
    dataset(f, path, "vector", "f4", rank=1)
    str_array(f.attrs, path, "positive")
    str_array(f.attrs, path, "negative")
    check(isinstance(f.attrs.get("hook"), str), path, "hook is not a str")


def probe(f, path):
    labels = str_array(f.attrs, path, "labels")
    layer = dataset(f, path, "layer", "i8", rank=1)
    n = layer.shape[0] if layer is not None else None
    for name in ("train_accuracy", "test_accuracy"):
        d = dataset(f, path, name, "f8", shape=(n,) if n else None)
        if d is not None:
            check(((d[()] >= 0) & (d[()] <= 1)).all(), f"{path}:/{name}", "accuracies outside [0, 1]")


def generic(f, path):
    pass


KINDS = {
    "cache.h5": activation_cache, "trace/trace.h5": trace, "lens/lens.h5": lens, "memories/memories.h5": generic,
    "neurons/neurons.h5": generic, "dla/dla.h5": dla, "patch/patch.h5": patch, "steer.h5": steer, "probe/probe.h5": probe, "ledger.h5": ledger, "interventions.h5": interventions,
}


def main(folder):
    import glob, os
    files = {os.path.relpath(p, folder): p for p in glob.glob(os.path.join(folder, "**", "*.h5"), recursive=True)}
    for rel, fn in KINDS.items():
        check(rel in files, folder, f"{rel} was not written")
    stats = [r for r in files if r.startswith("stats/")]
    check(stats, folder, "no statistics file under stats/")
    progress = [r for r in files if r.startswith("progress/")]
    check(progress, folder, "no evaluation progress file under progress/")
    for rel, p in sorted(files.items()):
        with h5py.File(p, "r") as f:
            common(f, rel)
            kind = KINDS.get(rel) or (statistics if rel.startswith("stats/") and "partial" not in rel else generic)
            kind(f, rel)
    print(f"{len(files)} files checked: {', '.join(sorted(files))}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
