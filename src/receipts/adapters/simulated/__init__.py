"""Simulated backends: deterministic stand-ins used by `receipts simulate` and the spine demo.

They exercise every lifecycle step (metrics, checkpoints, bundles) without a model, so
the event flow can be driven at thousands of lifecycles per second.
"""
