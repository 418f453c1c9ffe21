# The deploy workflow reads these with `terraform output -json` (docs/DEPLOY.md).

output "resource_group_name" {
  description = "Resource group holding everything."
  value       = azurerm_resource_group.main.name
}

output "function_app_name" {
  description = "Function app name (the deploy job's target)."
  value       = azurerm_function_app_flex_consumption.main.name
}

output "function_app_hostname" {
  description = "Function app host name."
  value       = azurerm_function_app_flex_consumption.main.default_hostname
}

output "ingest_url" {
  description = "IngestJob endpoint; send the function key as x-functions-key (az functionapp function keys list)."
  value       = "https://${azurerm_function_app_flex_consumption.main.default_hostname}/api/IngestJob"
}

output "servicebus_namespace_fqdn" {
  description = "Service Bus namespace host name (ServiceBusConnection__fullyQualifiedNamespace)."
  value       = local.servicebus_fqdn
}

output "queue_name" {
  description = "The jobs queue."
  value       = azurerm_servicebus_queue.jobs.name
}

output "application_insights_name" {
  description = "Application Insights resource: open its Application Map."
  value       = azurerm_application_insights.main.name
}

output "application_insights_app_id" {
  description = "Application Insights application id: `jobctl --app-id` (or APPLICATIONINSIGHTS_APP_ID), `az monitor app-insights query --app`."
  value       = azurerm_application_insights.main.app_id
}
