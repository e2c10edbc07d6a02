"""The project's own receipts: a seeded generator of labelled, renderable receipts."""
