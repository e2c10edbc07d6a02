"""AWS Lambda handlers, one module per function (`<module>.handler`), over one cached Runtime.

`start_training` (direct invoke), `queue_export` (EventBridge: SageMaker training job state
change), `export_results` and `ocr_results` (SQS, partial batch failures via `sqs_batch`).
"""
