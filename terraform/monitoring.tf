resource "azurerm_log_analytics_workspace" "main" {
  name                = local.names.log_analytics
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

# Workspace-based Application Insights: the host's requests and the handler's custom metrics and
# spans (same cloud role name) land here and draw one node on the Application Map.
resource "azurerm_application_insights" "main" {
  name                = local.names.app_insights
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  workspace_id        = azurerm_log_analytics_workspace.main.id
  application_type    = "other"
  # Entra ID only: the host and the handler's exporter send the app identity's token
  # (APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD, "Monitoring Metrics Publisher"
  # in rbac.tf); telemetry sent with just the instrumentation key is refused.
  local_authentication_disabled = true
  tags                          = local.tags
}

resource "azurerm_monitor_action_group" "alerts" {
  name                = local.names.action_group
  resource_group_name = azurerm_resource_group.main.name
  short_name          = "rjobs"
  tags                = local.tags

  email_receiver {
    name                    = "operator"
    email_address           = var.alert_email
    use_common_alert_schema = true
  }
}

# Any message in the dead-letter queue needs a person: inspect, fix, resubmit.
resource "azurerm_monitor_metric_alert" "dead_letters" {
  name                = "${local.names.alert_prefix}-dead-letters"
  resource_group_name = azurerm_resource_group.main.name
  scopes              = [azurerm_servicebus_namespace.main.id]
  description         = "Messages are in ${var.queue_name}/$DeadLetterQueue."
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT15M"
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.ServiceBus/namespaces"
    metric_name      = "DeadletteredMessages"
    aggregation      = "Maximum"
    operator         = "GreaterThan"
    threshold        = 0

    dimension {
      name     = "EntityName"
      operator = "Include"
      values   = [var.queue_name]
    }
  }

  action {
    action_group_id = azurerm_monitor_action_group.alerts.id
  }
}

# The log-query alerts, one per entry: all on Application Insights, every 5 minutes over 15,
# firing when the query's measure column goes above the threshold. The keys are the resource
# addresses the alerts had as separate resources (moved.tf keeps their state).
locals {
  query_alerts = {
    failure_rate = {
      name        = "${local.names.alert_prefix}-failure-rate"
      description = "More than ${var.failure_rate_alert_percent}% of function invocations failed (chaos alone fails about ${var.chaos_failure_rate * 100}% of ProcessJob attempts)."
      severity    = 2
      query       = <<-KQL
        requests
        | where cloud_RoleName =~ "${local.names.function_app}"
        | summarize total = count(), failed = countif(success == false)
        | where total >= 20
        | extend failure_percent = 100.0 * failed / total
      KQL
      measure     = "failure_percent"
      threshold   = var.failure_rate_alert_percent
    }

    # IngestJob latency, judged on p95 over at least 50 requests: a Flex Consumption cold start
    # (the first request on a new instance waits for the host and the handler to start, typically
    # 1-3 s) lands in the top few percent of a busy window instead of tripping the alert, while a
    # sustained slowdown (the Service Bus output or validation getting slow) moves p95. Warm, the
    # handler itself answers in milliseconds (BENCHMARKS.md); the host and the output binding add
    # their own time, hence 1000 ms by default.
    ingest_latency = {
      name        = "${local.names.alert_prefix}-ingest-p95"
      description = "IngestJob p95 duration is above ${var.ingest_p95_alert_ms} ms over 15 minutes (at least 50 requests)."
      severity    = 3
      query       = <<-KQL
        requests
        | where cloud_RoleName =~ "${local.names.function_app}" and name == "IngestJob"
        | summarize p95_ms = percentile(duration, 95), total = count()
        | where total >= 50
      KQL
      measure     = "p95_ms"
      threshold   = var.ingest_p95_alert_ms
    }

    # Velocity flags (seed 002: flagged, stored, alerted): IngestJob accepted jobs from a client
    # sending more than VELOCITY_FLAG_PER_MINUTE requests a minute. The jobs are processed; a
    # person looks.
    suspicious_jobs = {
      name        = "${local.names.alert_prefix}-suspicious-jobs"
      description = "IngestJob flagged jobs as suspicious (velocity): see customMetrics JobFlagged and the flagged envelopes' suspicionReason."
      severity    = 3
      query       = <<-KQL
        customMetrics
        | where cloud_RoleName =~ "${local.names.function_app}" and name == "JobFlagged"
        | summarize flagged = sum(valueSum)
      KQL
      measure     = "flagged"
      threshold   = 0
    }
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "query" {
  for_each             = local.query_alerts
  name                 = each.value.name
  resource_group_name  = azurerm_resource_group.main.name
  location             = azurerm_resource_group.main.location
  scopes               = [azurerm_application_insights.main.id]
  description          = each.value.description
  severity             = each.value.severity
  evaluation_frequency = "PT5M"
  window_duration      = "PT15M"
  tags                 = local.tags

  criteria {
    query                   = each.value.query
    time_aggregation_method = "Maximum"
    metric_measure_column   = each.value.measure
    operator                = "GreaterThan"
    threshold               = each.value.threshold
  }

  action {
    action_groups = [azurerm_monitor_action_group.alerts.id]
  }
}
