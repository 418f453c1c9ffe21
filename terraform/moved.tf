# The resources that became for_each tables (one definition, one instance per entry) keep their
# state through these moves: the first apply after the change renames the existing instances in
# place instead of destroying and recreating them (a count-indexed address that does not exist in
# a state, e.g. queue_receiver[0] while queue_manage_rights is on, is skipped). Delete a block
# only once every deployed state has been applied with it.

# monitoring.tf: the log-query alerts, local.query_alerts.
moved {
  from = azurerm_monitor_scheduled_query_rules_alert_v2.failure_rate
  to   = azurerm_monitor_scheduled_query_rules_alert_v2.query["failure_rate"]
}

moved {
  from = azurerm_monitor_scheduled_query_rules_alert_v2.ingest_latency
  to   = azurerm_monitor_scheduled_query_rules_alert_v2.query["ingest_latency"]
}

moved {
  from = azurerm_monitor_scheduled_query_rules_alert_v2.suspicious_jobs
  to   = azurerm_monitor_scheduled_query_rules_alert_v2.query["suspicious_jobs"]
}

# rbac.tf: the function app identity's roles, local.app_roles.
moved {
  from = azurerm_role_assignment.queue_owner[0]
  to   = azurerm_role_assignment.app["queue_owner"]
}

moved {
  from = azurerm_role_assignment.queue_receiver[0]
  to   = azurerm_role_assignment.app["queue_receiver"]
}

moved {
  from = azurerm_role_assignment.queue_sender[0]
  to   = azurerm_role_assignment.app["queue_sender"]
}

moved {
  from = azurerm_role_assignment.runtime_storage
  to   = azurerm_role_assignment.app["runtime_storage"]
}

moved {
  from = azurerm_role_assignment.telemetry_publisher
  to   = azurerm_role_assignment.app["telemetry_publisher"]
}
