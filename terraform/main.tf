locals {
  name   = "${var.project}-${var.environment}"
  suffix = random_string.suffix.result
  tags = merge(var.tags, {
    project     = var.project
    environment = var.environment
    managed-by  = "terraform"
  })

  # Every generated name, valid by construction for every input the variable validations allow
  # (project: 3-12 and environment: 2-8 characters of [a-z0-9], each starting with a letter;
  # suffix: 6 of [a-z0-9]). tests/infra evaluates these expressions at the shortest and longest
  # inputs and checks each against Azure's naming rules.
  names = {
    resource_group = "rg-${local.name}"
    # Storage accounts: 3-24 lower-case letters and digits, globally unique. "st" + 12 + 8 + 6
    # would be 28, so the readable part is cut to 18 and the suffix keeps it unique.
    storage_account = "${substr("st${var.project}${var.environment}", 0, 18)}${local.suffix}"
    # The Functions host derives its host ID from the first 32 characters of the app name; two
    # apps sharing a storage account or a prefix must not collide, so the whole name stays <= 32.
    function_app     = "${substr("func-${local.name}", 0, 25)}-${local.suffix}"
    service_plan     = "asp-${local.name}"
    servicebus       = "sb-${local.name}-${local.suffix}"
    log_analytics    = "log-${local.name}-${local.suffix}"
    app_insights     = "appi-${local.name}-${local.suffix}"
    action_group     = "ag-${local.name}"
    alert_prefix     = "alert-${local.name}"
    deployment_store = "deployments"
  }
}

# Globally unique names (storage account, Service Bus namespace, function app) get a stable suffix.
resource "random_string" "suffix" {
  length  = 6
  upper   = false
  special = false
}

resource "azurerm_resource_group" "main" {
  name     = local.names.resource_group
  location = var.location
  tags     = local.tags
}
