#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project with the exact pins of constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev,ml,pretrained,aws,plots,export]'
# The tesseract OCR engine (adapters/tesseract) is a system package, not a pip one.
if ! command -v tesseract >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq --no-install-recommends \
            tesseract-ocr tesseract-ocr-eng \
            || echo "setup.sh: could not install tesseract; its tests will be skipped" >&2
    else
        echo "setup.sh: tesseract is missing; install it (apt-get install tesseract-ocr" \
            "tesseract-ocr-eng, or brew install tesseract) or its tests will be skipped" >&2
    fi
fi
