locals {
  name   = "${var.project}-${var.environment}"
  suffix = random_string.suffix.result
  tags = merge(var.tags, {
    project     = var.project
    environment = var.environment
    managed-by  = "terraform"
  })
}

# Globally unique names (storage account, Service Bus namespace, function app) get a stable suffix.
resource "random_string" "suffix" {
  length  = 6
  upper   = false
  special = false
}

resource "azurerm_resource_group" "main" {
  name     = "rg-${local.name}"
  location = var.location
  tags     = local.tags
}
