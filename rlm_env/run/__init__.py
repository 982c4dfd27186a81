"""The run side: the `rlm-env` command, evaluations, run folders, reports, the viewer and the local model.

Nothing below imports it.
"""
