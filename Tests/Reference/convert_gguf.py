#!/usr/bin/env python3
"""Run llama.cpp's own convert_hf_to_gguf.py on a golden-fixture folder, with the few
monkeypatches that a tiny random model with a stub tokenizer needs.  Nothing here touches
tensor data or layouts: every tensor is written by llama.cpp's code.

Usage (same arguments as convert_hf_to_gguf.py):
    /work/venv/bin/python Tests/Reference/convert_gguf.py HF_DIR --outfile OUT.gguf --outtype f32 [--model-name NAME]

Where the converter is found (first that is set):
    $LLAMACPP_CONVERTER   path of convert_hf_to_gguf.py
    $LLAMACPP_SRC         llama.cpp source tree holding convert_hf_to_gguf.py, conversion/ and gguf-py/
    $LOCUS_REFERENCE/src/llama-cpp/vendor/llama.cpp   (default LOCUS_REFERENCE = ~/.cache/locus-reference),
                          i.e. the tree that `/work/shared/reference/llamacpp.sh setup` unpacks from the
                          llama-cpp-python sdist (the same $SRC that `llamacpp.sh convert` runs)

Patches (each one announces itself on stderr as "convert_gguf: ..." when it takes effect):
  1. get_vocab_base_pre: the stub BPE tokenizer's pre-tokenizer hash is, of course, not in
     llama.cpp's table of known tokenizers; instead of raising NotImplementedError, use
     "default" (what the converter writes for unknown-but-accepted BPE tokenizers).
  2. GPT-NeoX: the converter reads hparams["rotary_pct"], which transformers >= 5 no longer keeps
     in the config dict (it moved to rope_parameters["partial_rotary_factor"]); copy it back.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def find_converter() -> Path:
    if p := os.environ.get("LLAMACPP_CONVERTER"):
        return Path(p)
    if s := os.environ.get("LLAMACPP_SRC"):
        return Path(s) / "convert_hf_to_gguf.py"
    r = Path(os.environ.get("LOCUS_REFERENCE", str(Path.home() / ".cache" / "locus-reference")))
    return r / "src" / "llama-cpp" / "vendor" / "llama.cpp" / "convert_hf_to_gguf.py"


def note(msg: str):
    print(f"convert_gguf: {msg}", file=sys.stderr, flush=True)


def main():
    conv = find_converter()
    if not conv.is_file():
        sys.exit(f"convert_gguf: {conv} not found; run `bash /work/shared/reference/llamacpp.sh setup` "
                 "or set LLAMACPP_CONVERTER / LLAMACPP_SRC")
    src = conv.parent
    sys.path.insert(0, str(src))
    sys.path.insert(1, str(src / "gguf-py"))  # as the converter itself does (its vendored gguf-py wins)
    import importlib.util
    spec = importlib.util.spec_from_file_location("convert_hf_to_gguf", conv)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    from conversion.base import TextModel

    orig_pre = TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return orig_pre(self, tokenizer)
        except NotImplementedError:
            note('unknown BPE pre-tokenizer hash (stub tokenizer): tokenizer.ggml.pre = "default"')
            return "default"

    TextModel.get_vocab_base_pre = get_vocab_base_pre

    from conversion.gptneox import GPTNeoXModel

    orig_neox = GPTNeoXModel.set_gguf_parameters

    def neox_set_gguf_parameters(self):
        if "rotary_pct" not in self.hparams:
            pct = self.rope_parameters["partial_rotary_factor"]
            note(f"gpt-neox: hparams['rotary_pct'] = rope_parameters['partial_rotary_factor'] = {pct}")
            self.hparams["rotary_pct"] = pct
        return orig_neox(self)

    GPTNeoXModel.set_gguf_parameters = neox_set_gguf_parameters

    note(f"running {conv}")
    sys.argv = [str(conv)] + sys.argv[1:]
    mod.main()


if __name__ == "__main__":
    main()
