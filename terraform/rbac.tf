# The function app's identity gets exactly what it uses, as narrowly scoped as works.

# Trigger (receive, complete, abandon) and output binding (send): the queue only. The Sender role
# also covers backoff mode, where the handler re-sends a failed job to this queue through the
# Service Bus REST API with a ScheduledEnqueueTimeUtc.
resource "azurerm_role_assignment" "queue_receiver" {
  scope                = azurerm_servicebus_queue.jobs.id
  role_definition_name = "Azure Service Bus Data Receiver"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}

resource "azurerm_role_assignment" "queue_sender" {
  scope                = azurerm_servicebus_queue.jobs.id
  role_definition_name = "Azure Service Bus Data Sender"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}

# Backpressure: the handler reads the queue's runtime counts (CountDetails/ActiveMessageCount)
# with the Service Bus "Get Entity" REST call, which Microsoft documents as needing Manage rights;
# with Entra ID that is only "Azure Service Bus Data Owner". Scoped to the queue, not the
# namespace: the identity can manage this one queue, nothing else. (The Sender and Receiver
# assignments stay, so dropping backpressure means dropping only this one.)
resource "azurerm_role_assignment" "queue_runtime_info" {
  scope                = azurerm_servicebus_queue.jobs.id
  role_definition_name = "Azure Service Bus Data Owner"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}

# AzureWebJobsStorage (host leases and keys) and the deployment package container.
resource "azurerm_role_assignment" "runtime_storage" {
  scope                = azurerm_storage_account.runtime.id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}

# Writing telemetry with Entra ID (used by the host when APPLICATIONINSIGHTS_AUTHENTICATION_STRING is set).
resource "azurerm_role_assignment" "telemetry_publisher" {
  scope                = azurerm_application_insights.main.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}
