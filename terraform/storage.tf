# The Functions runtime's own storage (AzureWebJobsStorage) and the Flex Consumption deployment
# container. Shared-key access is off: the app reaches it with its managed identity.
# trivy (a second opinion beside checkov): the same accepted findings, with the same reasons.
# AZU-0012: no default-deny network rule: Flex Consumption without VNet integration reaches its
# storage over the public endpoint, and so does the deploy's package upload (Entra ID only).
# AZU-0057: no queue logging: the app uses no storage queues (checkov CKV_AZURE_33).
# AZU-0058: LRS: runtime state the host recreates (checkov CKV_AZURE_206).
# AZU-0060: Microsoft-managed keys: no customer data here (checkov CKV2_AZURE_1).
#trivy:ignore:AZU-0012
#trivy:ignore:AZU-0057
#trivy:ignore:AZU-0058
#trivy:ignore:AZU-0060
resource "azurerm_storage_account" "runtime" {
  #checkov:skip=CKV_AZURE_33:Queue service logging is not used; the app uses no storage queues.
  #checkov:skip=CKV_AZURE_206:LRS is enough for runtime state that the host recreates; no business data lives here.
  #checkov:skip=CKV_AZURE_59:Flex Consumption without VNet integration reaches storage over its public endpoint (Entra ID auth only, no keys).
  #checkov:skip=CKV2_AZURE_1:Microsoft-managed keys are acceptable for runtime state; no customer data is stored.
  #checkov:skip=CKV2_AZURE_33:No private endpoint: the Flex app is not VNet-integrated in this template.
  #checkov:skip=CKV2_AZURE_41:No SAS tokens are issued (shared-key access is disabled), so there is no SAS expiration policy to set.
  #checkov:skip=CKV2_AZURE_40:Shared-key access is disabled (shared_access_key_enabled = false); this check misreads the 4.x attribute.
  #checkov:skip=CKV_AZURE_244:Local users (SFTP) are not enabled on this account.
  name                              = local.names.storage_account
  resource_group_name               = azurerm_resource_group.main.name
  location                          = azurerm_resource_group.main.location
  account_tier                      = "Standard"
  account_replication_type          = "LRS"
  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  infrastructure_encryption_enabled = true
  allow_nested_items_to_be_public   = false
  shared_access_key_enabled         = false
  default_to_oauth_authentication   = true
  public_network_access_enabled     = true
  tags                              = local.tags

  blob_properties {
    delete_retention_policy {
      days = 7
    }
    container_delete_retention_policy {
      days = 7
    }
  }
}

resource "azurerm_storage_container" "deployments" {
  #checkov:skip=CKV2_AZURE_21:Blob logging for the deployment container is not needed; deployments are audited in the activity log.
  name                  = local.names.deployment_store
  storage_account_id    = azurerm_storage_account.runtime.id
  container_access_type = "private"
}
