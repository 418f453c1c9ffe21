# The function app's identity gets exactly what it uses, each role at the narrowest scope that
# works, each assignment typed as a service principal (no directory lookup, no replication race
# right after the identity is created).
#
# What each caller needs, from Microsoft's documentation and the Service Bus extension's source:
# - ProcessJob's trigger (receive, complete, abandon): "Azure Service Bus Data Receiver"
#   (Functions docs, "Service Bus bindings: grant permission to the identity").
# - IngestJob's output binding and the handler's backoff re-send (REST send with
#   ScheduledEnqueueTimeUtc): "Azure Service Bus Data Sender".
# - Exact queue counts, read by the scale controller for target-based scaling
#   (ServiceBusMetricsProvider.GetMessageCountAsync -> GetQueueRuntimePropertiesAsync) and by
#   the handler's backpressure ("Get Entity"): the Manage claim, which with Entra ID only
#   "Azure Service Bus Data Owner" grants. Without it the extension falls back to peeking one
#   message ("Falling back to using first message enqueued time") and backpressure fails open.
#
# Data Owner's data actions (Microsoft.ServiceBus/*) include sending and receiving, so with it the
# Sender and Receiver roles would be redundant at the same scope: exactly one of the two sets
# below exists. Its control-plane actions (Microsoft.ServiceBus/*) let the identity read, change
# and delete this one queue through Azure Resource Manager, nothing else in the namespace:
# set queue_manage_rights = false to trade exact counts for Receiver + Sender only.

# AzureWebJobsStorage (host locks, function keys in azure-webjobs-secrets) and the deployment
# package container: the host's identity-based storage connection needs "Storage Blob Data Owner"
# on the account (Functions docs, "Connecting to host storage with an identity").
#
# Telemetry ingestion with Entra ID (the host, and the handler's exporter, through
# APPLICATIONINSIGHTS_AUTHENTICATION_STRING): "Monitoring Metrics Publisher" on the Application
# Insights resource, the role Microsoft's "Microsoft Entra authentication for Application
# Insights" names.
#
# The keys are the resource addresses these assignments had as separate resources (moved.tf keeps
# their state); `granted` says whether the assignment exists.
locals {
  app_roles = {
    queue_owner         = { role = "Azure Service Bus Data Owner", scope = azurerm_servicebus_queue.jobs.id, granted = var.queue_manage_rights }
    queue_receiver      = { role = "Azure Service Bus Data Receiver", scope = azurerm_servicebus_queue.jobs.id, granted = !var.queue_manage_rights }
    queue_sender        = { role = "Azure Service Bus Data Sender", scope = azurerm_servicebus_queue.jobs.id, granted = !var.queue_manage_rights }
    runtime_storage     = { role = "Storage Blob Data Owner", scope = azurerm_storage_account.runtime.id, granted = true }
    telemetry_publisher = { role = "Monitoring Metrics Publisher", scope = azurerm_application_insights.main.id, granted = true }
  }
}

resource "azurerm_role_assignment" "app" {
  for_each             = { for key, role in local.app_roles : key => role if role.granted }
  scope                = each.value.scope
  role_definition_name = each.value.role
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# Reading telemetry: `jobctl job` / `jobctl audit` query Application Insights through its query
# API (api.applicationinsights.io), which Microsoft's "Application Insights API access with
# Microsoft Entra authentication" grants with the "Reader" role on the Application Insights
# resource. Granted here, on this resource only, to whoever var.telemetry_readers names
# (operators, an on-call group), each typed as given: the function app itself never reads
# telemetry.
resource "azurerm_role_assignment" "telemetry_reader" {
  for_each             = var.telemetry_readers
  scope                = azurerm_application_insights.main.id
  role_definition_name = "Reader"
  principal_id         = each.key
  principal_type       = each.value
}
