#!/usr/bin/env bash
# Start, stop or check the project's local Elasticsearch node: scripts/es-local.sh start|stop|status
# (the same as `finwatch es ...`; installs Java and fetches the zip with Maven when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/bootstrap.sh
exec .venv/bin/python -m monitor.es_local "${1:-status}"
