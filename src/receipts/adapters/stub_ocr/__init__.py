"""OCR without an OCR engine: words read from a JSON file next to the image (`--stub-ocr`)."""

from receipts.adapters.stub_ocr.engine import SidecarOCREngine, parse_sidecar, sidecar_paths

__all__ = ["SidecarOCREngine", "parse_sidecar", "sidecar_paths"]
