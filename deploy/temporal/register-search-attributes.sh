#!/bin/sh
# One-shot (temporalio/admin-tools): register q2c's search attributes (DESIGN.md §3) in the
# namespace, those not registered yet. The names and types are those of
# workflows/search_attributes.py; tests/deploy checks that the two lists agree.
set -eu

: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}"

# name:type, one per line (types as the CLI spells them).
ATTRIBUTES="
ContractId:Keyword
CustomerId:Keyword
ContractStage:Keyword
AttentionReason:Keyword
LegalEntity:Keyword
Currency:Keyword
NextBillingDate:Datetime
ARR:Double
ReconStatus:Keyword
"

# The namespace may have just been created: wait until the server lists its attributes.
attempt=0
until existing="$(temporal operator search-attribute list --output json 2>/dev/null)"; do
  attempt=$((attempt + 1))
  [ "$attempt" -lt 30 ] || { echo "cannot list search attributes of $TEMPORAL_NAMESPACE" >&2; exit 1; }
  sleep 2
done

for entry in $ATTRIBUTES; do
  name="${entry%%:*}"
  type="${entry#*:}"
  if printf '%s' "$existing" | grep -q "\"$name\""; then
    echo "search attribute $name exists"
  else
    temporal operator search-attribute create --name "$name" --type "$type"
    echo "search attribute $name ($type) registered"
  fi
done
