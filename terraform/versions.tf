terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.58 is the floor: it is the first release whose azurerm_function_app_flex_consumption
      # accepts maximum_instance_count below 40 (var.maximum_instance_count allows 1-1000;
      # provider PR #31392), and 4.43 fixed instance_memory_in_mb changes being ignored
      # (GH-30489). 5.x is a major release with breaking changes this template is not tested on.
      version = ">= 4.58.0, < 5.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State: an azurerm backend, configured at init time (docs/DEPLOY.md), one state key per
  # environment (resilient-jobs-<environment>.tfstate), e.g.
  #   terraform init -backend-config=backend.hcl -backend-config="key=resilient-jobs-dev.tfstate"
  backend "azurerm" {}
}

provider "azurerm" {
  features {
    # Application Insights makes a "Failure Anomalies - <name>" smart detector rule and an
    # "Application Insights Smart Detection" action group outside Terraform's state. With this
    # flag the provider disables the rule at create and deletes it at destroy (provider issue
    # #10563); the action group it leaves behind would then block deleting the resource group
    # (provider PR #22163 shows the failure), hence the next flag.
    application_insights {
      disable_generated_rule = true
    }
    # The resource group exists only for this estate (rg-<project>-<environment>); destroying it
    # deletes what Azure put there on its own (the smart detection action group). Anything you add
    # to it by hand is deleted too: keep other resources out of it.
    resource_group {
      prevent_deletion_if_contains_resources = false
    }
    # The runtime storage account has shared keys off, so every data-plane call the provider makes
    # on it needs an Entra ID data role the apply identity does not have on a brand-new account
    # (403 on the first apply). The account uses neither queue_properties nor static_website, the
    # only settings that need the data plane; blob properties and the container go through Azure
    # Resource Manager. (Provider PR #27818, since 4.9.)
    storage {
      data_plane_available = false
    }
  }
  # The storage account has shared-key access disabled: use Entra ID for data-plane calls.
  storage_use_azuread = true
  # subscription_id comes from ARM_SUBSCRIPTION_ID (set by the deploy workflow or your shell).
}
