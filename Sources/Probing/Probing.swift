// Probing: locating facts (causal tracing, logit lens, FFN key-value memories, knowledge neurons).
