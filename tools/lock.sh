#!/usr/bin/env bash
# Resolve requirements.in into requirements.lock in a scratch environment.
set -euo pipefail
python_boot=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$python_boot" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --upgrade pip
"$scratch/venv/bin/python" -m pip install --quiet -r requirements.in
{
  echo "# Generated from requirements.in with pip freeze (Python 3.11, x86_64). Edit requirements.in, then: make lock"
  "$scratch/venv/bin/python" -m pip freeze --exclude-editable
} > requirements.lock
echo "requirements.lock updated"
