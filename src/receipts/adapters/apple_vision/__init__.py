"""OCR with Apple's Vision framework through pyobjc (macOS only)."""

from receipts.adapters.apple_vision.engine import AppleVisionEngine, vision_rect_to_pixels

__all__ = ["AppleVisionEngine", "vision_rect_to_pixels"]
