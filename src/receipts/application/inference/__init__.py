"""Inference: the cached predictions, the inference report and the API response."""
