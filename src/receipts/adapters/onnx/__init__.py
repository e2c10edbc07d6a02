"""ONNX bundles for non-Apple targets: the torch → ONNX export (dynamic batch and length),
weight quantization for ONNX Runtime, parity with torch, and a small ONNX Runtime predictor."""
