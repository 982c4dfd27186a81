"""A short soak (scripts/soak.py): 50 rollouts at concurrency 16 through verifiers' run path, with the
fault mix on root and sub-LLM requests: every rollout scored right or recorded with a typed error,
nothing lost, nothing left behind."""

import importlib.util
from pathlib import Path

SOAK = Path(__file__).resolve().parent.parent / "scripts" / "soak.py"


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_soak_with_faults_loses_nothing_and_leaks_nothing():
    soak = load_soak()
    report = soak.run(rollouts=50, concurrency=16, error_rate=0.3, slow_rate=0.1, seed=1, tasks=10, read_timeout_s=1.0)
    print(soak.format_report(report))
    injected = report.server["injected"]
    assert {route for _, route in injected} == {"root", "sub"} and sum(injected.values()) >= 20
    assert report.started == 50 and not report.lost and not report.reference_failures
    assert report.mis_scored == 0 and not report.untyped
    assert set(report.typed) <= {"ProviderError"}
    assert report.scored + sum(report.typed.values()) == 50
    assert not report.leftover_processes and not report.leftover_dirs
    assert not report.new_fds
    assert report.ok
