# Copy to terraform.tfvars (ignored by git) and adjust.
project     = "rjobs"
environment = "dev"
location    = "westeurope"
alert_email = "oncall@example.com"

# Must match host.json and the devhost defaults.
queue_name                           = "jobs"
max_delivery_count                   = 10
lock_duration                        = "PT1M"
default_message_ttl                  = "P14D"
dead_lettering_on_message_expiration = true

chaos_failure_rate  = 0.2
processing_delay_ms = 200

tags = {
  owner = "platform-team"
}

# Flex Consumption zone redundancy (the region must offer it).
zone_redundant = false

# true: "Azure Service Bus Data Owner" on the queue (exact counts for scaling and backpressure);
# false: Data Receiver + Data Sender only (docs/DEPLOY.md, Roles).
queue_manage_rights = true

ingest_p95_alert_ms = 1000

# Who may read telemetry (`jobctl job`, `jobctl audit`): Entra ID object id => User, Group or
# ServicePrincipal; each gets "Reader" on the Application Insights resource.
telemetry_readers = {}
