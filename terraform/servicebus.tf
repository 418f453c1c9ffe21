resource "azurerm_servicebus_namespace" "main" {
  #checkov:skip=CKV_AZURE_199:Customer-managed keys need the Premium tier; Standard is the documented choice (cost).
  #checkov:skip=CKV_AZURE_201:Customer-managed keys need the Premium tier; Standard is the documented choice (cost).
  #checkov:skip=CKV_AZURE_204:Private endpoints need the Premium tier; access is Entra ID only (local auth disabled).
  #checkov:skip=CKV_AZURE_202:Managed identity on the namespace is only used for customer-managed keys (Premium).
  name                          = local.names.servicebus
  resource_group_name           = azurerm_resource_group.main.name
  location                      = azurerm_resource_group.main.location
  sku                           = "Standard"
  local_auth_enabled            = false
  minimum_tls_version           = "1.2"
  public_network_access_enabled = true
  tags                          = local.tags
}

resource "azurerm_servicebus_queue" "jobs" {
  name                                 = var.queue_name
  namespace_id                         = azurerm_servicebus_namespace.main.id
  max_delivery_count                   = var.max_delivery_count
  lock_duration                        = var.lock_duration
  default_message_ttl                  = var.default_message_ttl
  dead_lettering_on_message_expiration = var.dead_lettering_on_message_expiration
  partitioning_enabled                 = false
  # Duplicate detection (Standard tier and up): a MessageId sent again within the window is
  # accepted and dropped, so the handler's backoff copies and jobctl's resubmissions, which carry
  # deterministic ids, cannot be doubled by a retried send. Fixed at creation: changing
  # requires_duplicate_detection forces azurerm to replace the queue (docs/DEPLOY.md).
  requires_duplicate_detection            = true
  duplicate_detection_history_time_window = var.duplicate_detection_history_time_window
  # 256 KiB messages on Standard: IngestJob rejects larger jobs with 413 before they get here.
}

locals {
  # The namespace's host name, from the endpoint Azure reports ("https://<name>.servicebus.windows.net:443/"
  # in the public cloud), so sovereign clouds get their own suffix.
  servicebus_fqdn = regex("^https://([^:/]+)", azurerm_servicebus_namespace.main.endpoint)[0]
}
