"""The on-device model bundle shared by every exporter (CoreML, ONNX): the checkpoint it
reads, the metadata files it writes, its manifest, and the staging that keeps a half-written
bundle from ever appearing."""
