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
# System packages, not pip ones: the tesseract OCR engine (adapters/tesseract) and the
# headless Chromium that renders the HTML reports in the tests.
missing=()
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr tesseract-ocr-eng)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >/dev/null \
            || echo "setup.sh: could not install ${missing[*]}; their tests will be skipped" >&2
    else
        echo "setup.sh: missing ${missing[*]}: install them (apt-get install ${missing[*]}," \
            "or brew install tesseract chromium) or their tests will be skipped" >&2
    fi
fi
