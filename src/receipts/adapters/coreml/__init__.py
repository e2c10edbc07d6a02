"""CoreML export with coremltools: an ML Program with a flexible sequence length."""
