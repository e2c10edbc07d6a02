"""LayoutLM with torch and transformers: models, encoding, training, prediction."""
