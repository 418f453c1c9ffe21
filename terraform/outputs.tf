output "resource_group_name" {
  description = "Resource group holding everything."
  value       = azurerm_resource_group.main.name
}

output "function_app_name" {
  description = "Function app name (the deploy workflow's FUNCTION_APP_NAME)."
  value       = azurerm_function_app_flex_consumption.main.name
}

output "ingest_url" {
  description = "IngestJob endpoint; add ?code=<function key> (az functionapp function keys list)."
  value       = "https://${azurerm_function_app_flex_consumption.main.default_hostname}/api/IngestJob"
}

output "servicebus_namespace_fqdn" {
  description = "Service Bus namespace host name (ServiceBusConnection__fullyQualifiedNamespace)."
  value       = "${azurerm_servicebus_namespace.main.name}.servicebus.windows.net"
}

output "queue_name" {
  description = "The jobs queue."
  value       = azurerm_servicebus_queue.jobs.name
}

output "application_insights_name" {
  description = "Application Insights resource: open its Application Map."
  value       = azurerm_application_insights.main.name
}
