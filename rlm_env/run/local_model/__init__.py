"""The embedded local model, for runs with no endpoint, no API key and no GPU: a small GGUF served by
llama.cpp in-process.

Two jobs, one module each: ``model_file`` assembles the model from its part wheels and checks its
hash; ``server`` serves it. Import from those modules; this package imports nothing, so listing
the models (``rlm-env --help``) does not load the server's dependencies.
"""
