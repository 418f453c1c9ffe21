resource "azurerm_log_analytics_workspace" "main" {
  name                = "log-${local.name}-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

# Workspace-based Application Insights: the host's requests and the handler's custom metrics and
# spans (same cloud role name) land here and draw one node on the Application Map.
resource "azurerm_application_insights" "main" {
  name                = "appi-${local.name}-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  workspace_id        = azurerm_log_analytics_workspace.main.id
  application_type    = "other"
  # The Rust exporter authenticates with the connection string's instrumentation key, so local
  # (key-based) ingestion stays enabled; the key is not a secret (it only allows writing telemetry).
  local_authentication_disabled = false
  tags                          = local.tags
}

resource "azurerm_monitor_action_group" "alerts" {
  name                = "ag-${local.name}"
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
  name                = "alert-${local.name}-dead-letters"
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

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "failure_rate" {
  name                 = "alert-${local.name}-failure-rate"
  resource_group_name  = azurerm_resource_group.main.name
  location             = azurerm_resource_group.main.location
  scopes               = [azurerm_application_insights.main.id]
  description          = "More than ${var.failure_rate_alert_percent}% of function invocations failed (chaos alone fails about ${var.chaos_failure_rate * 100}% of ProcessJob attempts)."
  severity             = 2
  evaluation_frequency = "PT5M"
  window_duration      = "PT15M"
  tags                 = local.tags

  criteria {
    query                   = <<-KQL
      requests
      | where cloud_RoleName =~ "${local.function_app_name}"
      | summarize total = count(), failed = countif(success == false)
      | where total >= 20
      | extend failure_percent = 100.0 * failed / total
    KQL
    time_aggregation_method = "Maximum"
    metric_measure_column   = "failure_percent"
    operator                = "GreaterThan"
    threshold               = var.failure_rate_alert_percent
  }

  action {
    action_groups = [azurerm_monitor_action_group.alerts.id]
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "ingest_latency" {
  name                 = "alert-${local.name}-ingest-p99"
  resource_group_name  = azurerm_resource_group.main.name
  location             = azurerm_resource_group.main.location
  scopes               = [azurerm_application_insights.main.id]
  description          = "IngestJob p99 duration is above ${var.ingest_p99_alert_ms} ms."
  severity             = 3
  evaluation_frequency = "PT5M"
  window_duration      = "PT15M"
  tags                 = local.tags

  criteria {
    query                   = <<-KQL
      requests
      | where cloud_RoleName =~ "${local.function_app_name}" and name == "IngestJob"
      | summarize p99_ms = percentile(duration, 99), total = count()
      | where total >= 20
    KQL
    time_aggregation_method = "Maximum"
    metric_measure_column   = "p99_ms"
    operator                = "GreaterThan"
    threshold               = var.ingest_p99_alert_ms
  }

  action {
    action_groups = [azurerm_monitor_action_group.alerts.id]
  }
}

# Velocity flags (seed 002: flagged, stored, alerted): IngestJob accepted jobs from a client sending
# more than VELOCITY_FLAG_PER_MINUTE requests a minute. The jobs are processed; a person looks.
resource "azurerm_monitor_scheduled_query_rules_alert_v2" "suspicious_jobs" {
  name                 = "alert-${local.name}-suspicious-jobs"
  resource_group_name  = azurerm_resource_group.main.name
  location             = azurerm_resource_group.main.location
  scopes               = [azurerm_application_insights.main.id]
  description          = "IngestJob flagged jobs as suspicious (velocity): see customMetrics JobFlagged and the flagged envelopes' suspicionReason."
  severity             = 3
  evaluation_frequency = "PT5M"
  window_duration      = "PT15M"
  tags                 = local.tags

  criteria {
    query                   = <<-KQL
      customMetrics
      | where cloud_RoleName =~ "${local.function_app_name}" and name == "JobFlagged"
      | summarize flagged = sum(valueSum)
    KQL
    time_aggregation_method = "Maximum"
    metric_measure_column   = "flagged"
    operator                = "GreaterThan"
    threshold               = 0
  }

  action {
    action_groups = [azurerm_monitor_action_group.alerts.id]
  }
}
