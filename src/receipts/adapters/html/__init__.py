"""Self-contained HTML views (inline CSS and JS, images as data URIs, no requests)."""
