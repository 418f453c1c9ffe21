resource "azurerm_service_plan" "flex" {
  #checkov:skip=CKV_AZURE_225:Zone redundancy is var.zone_redundant (off by default: not every Flex Consumption region has availability zones); set it to true where the region offers them.
  #checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero per function; a fixed worker_count does not apply to FC1.
  name                   = local.names.service_plan
  resource_group_name    = azurerm_resource_group.main.name
  location               = azurerm_resource_group.main.location
  os_type                = "Linux"
  sku_name               = "FC1"
  zone_balancing_enabled = var.zone_redundant
  tags                   = local.tags
}

# Flex Consumption, runtime "custom": the Rust handler binary runs as a custom handler.
resource "azurerm_function_app_flex_consumption" "main" {
  #checkov:skip=CKV_AZURE_221:Public network access is required: clients POST jobs from the internet (function keys guard the endpoint).
  name                = local.names.function_app
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  service_plan_id     = azurerm_service_plan.flex.id

  runtime_name           = "custom"
  runtime_version        = "1.0"
  maximum_instance_count = var.maximum_instance_count
  instance_memory_in_mb  = var.instance_memory_mb

  storage_container_type      = "blobContainer"
  storage_container_endpoint  = "${azurerm_storage_account.runtime.primary_blob_endpoint}${azurerm_storage_container.deployments.name}"
  storage_authentication_type = "SystemAssignedIdentity"

  https_only                                     = true
  public_network_access_enabled                  = true
  webdeploy_publish_basic_authentication_enabled = false
  client_certificate_mode                        = "Optional"

  identity {
    type = "SystemAssigned"
  }

  site_config {
    minimum_tls_version                    = "1.2"
    application_insights_connection_string = azurerm_application_insights.main.connection_string
  }

  # No FUNCTIONS_WORKER_RUNTIME here: on Flex Consumption the worker runtime is
  # functionAppConfig.runtime (runtime_name = "custom" above) and the platform rejects the
  # FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION app settings. local.settings.json keeps
  # FUNCTIONS_WORKER_RUNTIME=custom for `func start`.
  app_settings = {
    # Provider bug (hashicorp/terraform-provider-azurerm#29693, also #29149, #29006): whatever
    # storage_authentication_type says, the provider writes
    # AzureWebJobsStorage=DefaultEndpointsProtocol=https;AccountName=<sa>;AccountKey=;... (an empty
    # key) and the host then tries shared-key auth on an account that has it disabled: no sync
    # triggers, no function keys. A user setting replaces the provider's (MergeUserAppSettings), so
    # an empty value leaves only the identity-based AzureWebJobsStorage__accountName below, as in
    # Azure-Samples/azure-functions-flex-consumption-samples (IaC/terraformazurerm). The provider
    # never reads the key back into state, so every plan shows `+ "AzureWebJobsStorage" = ""`: that
    # diff is expected and re-asserts the fix on each apply. Remove once #29693 (PR #29099) ships.
    AzureWebJobsStorage                           = ""
    AzureWebJobsStorage__accountName              = azurerm_storage_account.runtime.name
    ServiceBusConnection__fullyQualifiedNamespace = local.servicebus_fqdn
    # The host (and the handler's exporter) send telemetry with the app's Entra ID token; the
    # Application Insights resource accepts nothing else (local_authentication_disabled).
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "Authorization=AAD"
    CHAOS_FAILURE_RATE                        = tostring(var.chaos_failure_rate)
    PROCESSING_DELAY_MS                       = tostring(var.processing_delay_ms)
    SERVICEBUS_MAX_DELIVERY_COUNT             = tostring(var.max_delivery_count)
    JOB_TYPES_DIR                             = "job-types"
    LOG_FORMAT                                = "json"
    RUST_LOG                                  = "info"
  }

  tags = local.tags
}
