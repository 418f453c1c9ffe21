terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.40"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State: configure a remote backend at init time, e.g.
  #   terraform init -backend-config=backend.hcl
  # with an azurerm backend (storage account + container, use_azuread_auth = true).
  backend "azurerm" {}
}

provider "azurerm" {
  features {}
  # The storage account has shared-key access disabled: use Entra ID for data-plane calls.
  storage_use_azuread = true
  # subscription_id comes from ARM_SUBSCRIPTION_ID (set by the deploy workflow or your shell).
}
