"""OCR with the tesseract executable (Debian: `apt-get install tesseract-ocr`)."""

from receipts.adapters.tesseract.engine import TesseractEngine, parse_tsv

__all__ = ["TesseractEngine", "parse_tsv"]
