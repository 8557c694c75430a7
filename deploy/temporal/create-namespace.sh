#!/bin/sh
# One-shot (temporalio/admin-tools): wait until the Temporal server serves, then make sure the
# namespace q2c uses exists. TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE are read by the CLI.
set -eu

: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-30d}"

attempt=0
until temporal operator cluster health >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  [ "$attempt" -lt 60 ] || { echo "Temporal at $TEMPORAL_ADDRESS never became healthy" >&2; exit 1; }
  echo "waiting for Temporal at $TEMPORAL_ADDRESS"
  sleep 2
done

if temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $TEMPORAL_NAMESPACE exists"
else
  temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$RETENTION"
  echo "namespace $TEMPORAL_NAMESPACE created (retention $RETENTION)"
fi
