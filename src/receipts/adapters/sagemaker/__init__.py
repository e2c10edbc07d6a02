"""SageMaker: the training backend (launcher side) and what its container reads."""
