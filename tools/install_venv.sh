#!/usr/bin/env bash
# Build the pinned virtual environment at $2 from lock file $3, once. Concurrent callers wait on a lock;
# a half-built environment (no completion stamp) is removed and rebuilt.
set -euo pipefail
python_boot=$1 venv_dir=$2 lock_file=$3
mkdir -p "$(dirname "$venv_dir")"
exec 9>"$venv_dir.lock"
flock 9
if [ -f "$venv_dir/.tator-complete" ]; then exit 0; fi
rm -rf "$venv_dir"
echo "tator: installing the pinned environment into $venv_dir (first use only, about 2-3 minutes)"
"$python_boot" -m venv "$venv_dir"
"$venv_dir/bin/python" -m pip install --quiet --upgrade pip
"$venv_dir/bin/python" -m pip install --quiet --no-cache-dir -r "$lock_file"
"$venv_dir/bin/python" -m pip check
touch "$venv_dir/.tator-complete"
echo "tator: environment ready"
