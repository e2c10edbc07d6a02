"""Training jobs: the Jobs application, its views, the training use case and data preparation."""
