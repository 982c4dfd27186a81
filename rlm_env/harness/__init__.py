"""The verifiers adapter: RLMHarness, the task data it reads and the metrics it records.

The one layer (with rlm_env.harness.compat) that knows the verifiers v1 API; it runs the core.
"""
