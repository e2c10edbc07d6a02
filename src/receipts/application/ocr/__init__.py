"""OCR jobs: the OCRJobs application, its views, reading a receipt and the OCR worker."""
