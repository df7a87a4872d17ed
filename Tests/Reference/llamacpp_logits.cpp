// llama.cpp's own logits for a fixed token sequence, for make_golden.py's optional cross-check:
//   llamacpp_logits MODEL.gguf id0 id1 ... > out.f32      (float32 row-major [T, n_vocab])
// One sequence, positions 0..T-1, logits for every position, F32 KV cache, no flash attention,
// 1 thread. Built by make_golden.py against $LOCUS_REFERENCE's llama.cpp (llamacpp.sh setup):
//   g++ -O1 -std=c++17 llamacpp_logits.cpp -I$SRC/include -I$SRC/ggml/include -L$BIN -lllama -lggml -lggml-base -Wl,-rpath,$BIN
#include "llama.h"
#include <cstdio>
#include <cstdlib>
#include <vector>
static void quiet(enum ggml_log_level, const char *, void *) {}
int main(int argc, char ** argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL.gguf id...\n", argv[0]); return 2; }
    if (!getenv("LOGITS_VERBOSE")) llama_log_set(quiet, nullptr);
    llama_backend_init();
    auto mp = llama_model_default_params();
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "load failed\n"); return 1; }
    std::vector<llama_token> toks;
    for (int i = 2; i < argc; i++) toks.push_back(atoi(argv[i]));
    auto cp = llama_context_default_params();
    cp.n_ctx = 32; cp.n_batch = 32; cp.n_ubatch = 32; cp.n_threads = 1; cp.n_threads_batch = 1;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "ctx failed\n"); return 1; }
    llama_batch b = llama_batch_init((int) toks.size(), 0, 1);
    for (size_t i = 0; i < toks.size(); i++) {
        b.token[i] = toks[i]; b.pos[i] = (llama_pos) i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1;
    }
    b.n_tokens = (int) toks.size();
    if (llama_decode(ctx, b) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
    const int nv = llama_vocab_n_tokens(llama_model_get_vocab(model));
    for (size_t i = 0; i < toks.size(); i++) fwrite(llama_get_logits_ith(ctx, (int) i), sizeof(float), nv, stdout);
    llama_batch_free(b); llama_free(ctx); llama_model_free(model);
    return 0;
}
