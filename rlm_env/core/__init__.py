"""The core: the root loops, prompts, sub-LLMs, tools, the model client and the rollout record.

Knows nothing of the run side or the environments' kit; it drives the REPL (rlm_env.repl).
"""
