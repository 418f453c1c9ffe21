#!/usr/bin/env bash
# The deploy's smoke test: one real job through the deployed estate, end to end.
#   1. get IngestJob's function key (authLevel "function"; this also proves the host reaches its
#      storage with its identity: the keys live in AzureWebJobsStorage),
#   2. POST a job with the key until the new code answers 202 (the deployment may still settle),
#   3. poll Application Insights until the handler's ProcessJob span for that job id reports
#      success (it went through the queue, the trigger and the handler, and telemetry arrived with
#      the app's Entra ID token), or fail loudly when the time is up.
# Needs: az (logged in), curl, jq; RESOURCE_GROUP, FUNCTION_APP, FUNCTION_HOST, APPINSIGHTS_APP_ID.
set -euo pipefail

: "${RESOURCE_GROUP:?}" "${FUNCTION_APP:?}" "${FUNCTION_HOST:?}" "${APPINSIGHTS_APP_ID:?}"
post_attempts="${SMOKE_POST_ATTEMPTS:-30}"     # 10 s apart: 5 minutes for the app to answer
poll_seconds="${SMOKE_POLL_SECONDS:-900}"       # telemetry ingestion takes minutes, not seconds
fail() { echo "::error::smoke test: $*" >&2; exit 1; }

key=""
for _ in 1 2 3 4 5 6; do
  key=$(az functionapp function keys list -g "$RESOURCE_GROUP" -n "$FUNCTION_APP" \
    --function-name IngestJob --query default -o tsv 2>/dev/null || true)
  [ -n "$key" ] && break
  sleep 10
done
[ -n "$key" ] || fail "no function key for IngestJob (does the host reach its storage? see docs/DEPLOY.md)"
echo "::add-mask::$key"

correlation="deploy-${GITHUB_RUN_ID:-local}-${GITHUB_RUN_ATTEMPT:-1}"
body='{"jobType":"report","version":1,"tenantId":"smoke-test","payload":{"reportName":"deploy-smoke","rows":1}}'
status=000
for attempt in $(seq 1 "$post_attempts"); do
  status=$(curl -sS -o response.json -w '%{http_code}' --max-time 30 -X POST \
    "https://$FUNCTION_HOST/api/IngestJob" -H "x-functions-key: $key" \
    -H 'content-type: application/json' -H "x-correlation-id: $correlation" -d "$body" || echo 000)
  [ "$status" = 202 ] && break
  echo "attempt $attempt/$post_attempts: HTTP $status"
  sleep 10
done
[ "$status" = 202 ] || fail "IngestJob never answered 202 (last HTTP $status: $(head -c 500 response.json 2>/dev/null))"
job_id=$(jq -er '.jobId' response.json) || fail "the 202 body has no jobId: $(head -c 500 response.json)"
echo "accepted job $job_id (correlation $correlation)"

# `az monitor app-insights` is an az extension: let az install it without asking.
az config set extension.use_dynamic_install=yes_without_prompt >/dev/null
query="requests
| where timestamp > ago(2h) and name == 'ProcessJob'
| where tostring(customDimensions['job.id']) == '$job_id'
| summarize succeeded = countif(success == true), failed = countif(success == false)"
deadline=$(( $(date +%s) + poll_seconds ))
while :; do
  row=$(az monitor app-insights query --app "$APPINSIGHTS_APP_ID" --analytics-query "$query" \
    --query 'tables[0].rows[0]' -o tsv 2>/dev/null || true)
  succeeded=$(cut -f1 <<<"$row")
  failed=$(cut -f2 <<<"$row")
  if [ "${succeeded:-0}" -ge 1 ] 2>/dev/null; then
    echo "job $job_id processed (failed attempts before success: ${failed:-0})"
    exit 0
  fi
  [ "$(date +%s)" -lt "$deadline" ] || fail "job $job_id was accepted but no successful ProcessJob arrived in Application Insights within ${poll_seconds}s (failed attempts seen: ${failed:-0}); check the dead-letter queue and the app's logs"
  echo "waiting for job $job_id in Application Insights (failed attempts so far: ${failed:-0})"
  sleep 20
done
