"""Compiled paths: numba kernels for training and rollouts of recurrent models.

Each path says whether it can run a model and why not (`plan_fit`, `plan_rollout`);
the reference paths stay the oracle in tests. See issue 9 and `benchmarks/fast_paths.py`.
"""
