variable "project" {
  description = "Short name used in every resource name (lower-case letters and digits, 3-12 characters)."
  type        = string
  default     = "rjobs"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,11}$", var.project))
    error_message = "project must be 3-12 lower-case letters or digits, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name, part of resource names (e.g. dev, prod)."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,7}$", var.environment))
    error_message = "environment must be 2-8 lower-case letters or digits, starting with a letter."
  }
}

variable "location" {
  description = "Azure region. It must offer the Flex Consumption plan."
  type        = string
  default     = "westeurope"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "queue_name" {
  description = "Service Bus queue the functions bind to; must match queueName in functions/*/function.json."
  type        = string
  default     = "jobs"
}

variable "max_delivery_count" {
  description = "Deliveries before a message is dead-lettered (the devhost's --max-delivery-count)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_count >= 1 && var.max_delivery_count <= 2000
    error_message = "max_delivery_count must be between 1 and 2000."
  }
}

variable "lock_duration" {
  description = "PeekLock duration, ISO 8601 (the devhost's --lock-duration). Service Bus allows up to PT5M."
  type        = string
  default     = "PT1M"

  validation {
    condition     = can(regex("^PT([1-5]M|[0-9]+S)$", var.lock_duration))
    error_message = "lock_duration must be an ISO 8601 duration between PT5S and PT5M, e.g. PT1M or PT30S."
  }
}

variable "default_message_ttl" {
  description = "Message time-to-live, ISO 8601 (the devhost's --default-message-ttl)."
  type        = string
  default     = "P14D"

  validation {
    condition     = can(regex("^P([0-9]+D)?(T([0-9]+H)?([0-9]+M)?([0-9]+S)?)?$", var.default_message_ttl)) && var.default_message_ttl != "P"
    error_message = "default_message_ttl must be an ISO 8601 duration such as P14D or PT12H."
  }
}

variable "duplicate_detection_history_time_window" {
  description = "How long the jobs queue remembers a MessageId to drop a resent copy, ISO 8601 (Service Bus: PT20S to P7D, default PT10M; the devhost's Config.json DuplicateDetectionHistoryTimeWindow). Changes in place; requires_duplicate_detection itself is fixed at queue creation."
  type        = string
  default     = "PT10M"

  validation {
    condition = can(regex("^P(?:[0-9]+D)?(?:T(?:[0-9]+H)?(?:[0-9]+M)?(?:[0-9]+S)?)?$", var.duplicate_detection_history_time_window)) && !contains(["P", "PT"], var.duplicate_detection_history_time_window) && alltrue([
      for seconds in [try(sum([
        for unit, size in { D = 86400, H = 3600, M = 60, S = 1 } :
        tonumber(coalesce(try(regex(unit == "D" ? "^P([0-9]+)D" : "T.*?([0-9]+)${unit}", var.duplicate_detection_history_time_window)[0], null), "0")) * size
      ]), 0)] : seconds >= 20 && seconds <= 604800
    ])
    error_message = "duplicate_detection_history_time_window must be an ISO 8601 duration from PT20S to P7D (Service Bus's limits), e.g. PT10M."
  }
}

variable "dead_lettering_on_message_expiration" {
  description = "Move expired messages to the dead-letter queue instead of dropping them."
  type        = bool
  default     = true
}

variable "chaos_failure_rate" {
  description = "CHAOS_FAILURE_RATE: fraction of processing attempts that fail on purpose (0 disables chaos)."
  type        = number
  default     = 0.2

  validation {
    condition     = var.chaos_failure_rate >= 0 && var.chaos_failure_rate <= 1
    error_message = "chaos_failure_rate must be between 0 and 1."
  }
}

variable "processing_delay_ms" {
  description = "PROCESSING_DELAY_MS: simulated work per processing attempt."
  type        = number
  default     = 200

  validation {
    condition     = var.processing_delay_ms >= 0 && var.processing_delay_ms <= 240000
    error_message = "processing_delay_ms must be between 0 and 240000."
  }
}

variable "maximum_instance_count" {
  description = "Flex Consumption scale-out limit."
  type        = number
  default     = 40

  validation {
    condition     = var.maximum_instance_count >= 1 && var.maximum_instance_count <= 1000
    error_message = "maximum_instance_count must be between 1 and 1000."
  }
}

variable "instance_memory_mb" {
  description = "Flex Consumption instance memory (2048 or 4096)."
  type        = number
  default     = 2048

  validation {
    condition     = contains([2048, 4096], var.instance_memory_mb)
    error_message = "instance_memory_mb must be 2048 or 4096."
  }
}

variable "log_retention_days" {
  description = "Log Analytics retention in days."
  type        = number
  default     = 30

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be between 30 and 730."
  }
}

variable "alert_email" {
  description = "E-mail address the alert action group notifies."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an e-mail address."
  }
}

variable "failure_rate_alert_percent" {
  description = "Alert when more than this percentage of function invocations fail over 15 minutes (chaos alone is about 20%)."
  type        = number
  default     = 35

  validation {
    condition     = var.failure_rate_alert_percent > 0 && var.failure_rate_alert_percent <= 100
    error_message = "failure_rate_alert_percent must be in (0, 100]."
  }
}

variable "ingest_p95_alert_ms" {
  description = "Alert when IngestJob's p95 duration exceeds this many milliseconds over 15 minutes (at least 50 requests; see monitoring.tf for why p95)."
  type        = number
  default     = 1000

  validation {
    condition     = var.ingest_p95_alert_ms >= 100
    error_message = "ingest_p95_alert_ms must be at least 100 (lower values fire on ordinary host overhead)."
  }
}

variable "zone_redundant" {
  description = "Spread the Flex Consumption plan across availability zones (the region must offer them for Flex Consumption)."
  type        = bool
  default     = false
}

variable "queue_manage_rights" {
  description = "Grant the app 'Azure Service Bus Data Owner' on the jobs queue (exact queue counts for target-based scaling and backpressure) instead of Data Receiver + Data Sender (see rbac.tf)."
  type        = bool
  default     = true
}

variable "telemetry_readers" {
  description = "Who may read the app's telemetry (`jobctl job`, `jobctl audit`, the Logs blade): Entra ID object id => principal type (User, Group or ServicePrincipal). Each gets 'Reader' on the Application Insights resource (see rbac.tf)."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for id, type in var.telemetry_readers :
      can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", id)) && contains(["User", "Group", "ServicePrincipal"], type)
    ])
    error_message = "telemetry_readers: each key must be an Entra ID object id (a GUID) and each value User, Group or ServicePrincipal."
  }
}
