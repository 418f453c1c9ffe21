"""Offline cross-checks between the function app, the devhost defaults and the Terraform.

Terraform cannot be planned here (no Azure, no provider registry), so these tests parse the HCL
with python-hcl2 and assert that what the bindings need is what the infrastructure provides.
"""

import json
import re
from pathlib import Path

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"


def unquote(value):
    """Newer python-hcl2 keeps string literals quoted ('"jobs"'); older releases do not."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def norm(node):
    if isinstance(node, dict):
        return {unquote(k): norm(v) for k, v in node.items() if not k.startswith("__")}
    if isinstance(node, list):
        return [norm(v) for v in node]
    return unquote(node)


def load_tf():
    merged = {}
    for path in sorted(TF.glob("*.tf")):
        with path.open() as f:
            for key, value in norm(hcl2.load(f)).items():
                merged.setdefault(key, []).extend(value)
    return merged


def resources(tf, kind, expand=True):
    """Resources of `kind` by name. With `expand`, a resource whose `for_each` reads a table in
    `locals` (`local.x`, or a comprehension over it) stands as one instance per table entry, keyed
    by the entry's key, its `each.value.<field>` attributes replaced by the entry's fields (every
    entry, whatever a comprehension's filter keeps: tests evaluate the filter with tfeval)."""
    found = {name: body for block in tf.get("resource", []) for k, v in block.items() if k == kind for name, body in v.items()}
    if not expand:
        return found
    out = {}
    for name, body in found.items():
        table = re.fullmatch(r"\$\{(?:\{for \w+, \w+ in )?local\.(\w+)\b.*", str(body.get("for_each", "")))
        if not table:
            out[name] = body
            continue
        for key, entry in local_value(tf, table.group(1)).items():
            out[key] = _each_value(body, entry)
    return out


def _each_value(node, entry):
    if isinstance(node, dict):
        return {k: _each_value(v, entry) for k, v in node.items()}
    if isinstance(node, list):
        return [_each_value(v, entry) for v in node]
    field = re.fullmatch(r"\$\{each\.value\.(\w+)\}", node) if isinstance(node, str) else None
    return entry[field.group(1)] if field else node


def local_value(tf, name):
    for block in tf.get("locals", []):
        if name in block:
            return block[name]
    raise KeyError(name)


def variable_default(tf, name):
    for block in tf.get("variable", []):
        if name in block:
            return block[name].get("default")
    raise KeyError(name)


def strip(value):
    """hcl2 keeps interpolation syntax; normalise '${var.x}' to 'var.x'."""
    return value[2:-1] if isinstance(value, str) and value.startswith("${") and value.endswith("}") else value


@pytest.fixture(scope="module")
def tf():
    return load_tf()


@pytest.fixture(scope="module")
def bindings():
    out = []
    for path in sorted((ROOT / "functions").glob("*/function.json")):
        for b in json.loads(path.read_text())["bindings"]:
            out.append((path.parent.name, b))
    return out


@pytest.fixture(scope="module")
def app(tf):
    apps = resources(tf, "azurerm_function_app_flex_consumption")
    assert len(apps) == 1, "exactly one function app"
    return next(iter(apps.values()))


def test_every_binding_connection_has_an_identity_setting(bindings, app):
    settings = app["app_settings"]
    connections = {b["connection"] for _, b in bindings if "connection" in b}
    assert connections == {"ServiceBusConnection"}
    for c in connections:
        assert f"{c}__fullyQualifiedNamespace" in settings, f"{c} has no identity-based setting"
        # The namespace's own host name (derived from its endpoint, so sovereign clouds work).
        assert strip(settings[f"{c}__fullyQualifiedNamespace"]) == "local.servicebus_fqdn"
    # Identity only: no connection-string form of any binding connection.
    assert not any(k in settings for k in connections)


def test_every_queue_name_is_a_terraform_queue(tf, bindings):
    queues = resources(tf, "azurerm_servicebus_queue")
    names = {strip(q["name"]) for q in queues.values()}
    assert names == {"var.queue_name"}
    default = variable_default(tf, "queue_name")
    for function, b in bindings:
        if "queueName" in b:
            assert b["queueName"] == default, f"{function}: queue {b['queueName']} is not provisioned"


def test_queue_settings_match_the_devhost_defaults(tf):
    main_rs = (ROOT / "crates/devhost/src/cli.rs").read_text()

    def devhost_default(flag):
        m = re.search(rf"default_value(?:_t)? = \"?([^\",]+)\"?,\s*env = \"DEVHOST_{flag}\"", main_rs)
        assert m, f"devhost flag DEVHOST_{flag} not found"
        return m.group(1).replace("_", "")

    assert variable_default(tf, "max_delivery_count") == int(devhost_default("MAX_DELIVERY_COUNT"))
    # The devhost takes the same ISO 8601 durations as Terraform.
    assert variable_default(tf, "lock_duration") == devhost_default("LOCK_DURATION")
    assert variable_default(tf, "default_message_ttl") == devhost_default("DEFAULT_MESSAGE_TTL")
    assert variable_default(tf, "dead_lettering_on_message_expiration") is True
    assert devhost_default("DEAD_LETTER_ON_EXPIRATION") == "true"
    # Duplicate detection on, with the same window, in Azure and in the devhost.
    assert variable_default(tf, "duplicate_detection_history_time_window") == devhost_default("DUPLICATE_DETECTION_WINDOW")
    queue = next(iter(resources(tf, "azurerm_servicebus_queue").values()))
    for attr in ("max_delivery_count", "lock_duration", "default_message_ttl", "dead_lettering_on_message_expiration"):
        assert strip(queue[attr]) == f"var.{attr}"


def test_the_handler_knows_the_queue_max_delivery_count(app):
    # The per-tenant audit counts a failure on the last allowed delivery as dead-lettered.
    setting = app["app_settings"]["SERVICEBUS_MAX_DELIVERY_COUNT"]
    assert "var.max_delivery_count" in setting


def test_the_app_is_a_custom_handler_with_a_locked_down_surface(app):
    assert app["runtime_name"] == "custom"
    # Flex Consumption sets the worker runtime through runtime_name and rejects the app setting.
    assert "FUNCTIONS_WORKER_RUNTIME" not in app["app_settings"]
    local = json.loads((ROOT / "local.settings.json").read_text())
    assert local["Values"]["FUNCTIONS_WORKER_RUNTIME"] == "custom", "func start needs it locally"
    assert app["https_only"] is True
    assert app["identity"][0]["type"] == "SystemAssigned"
    assert app["site_config"][0]["minimum_tls_version"] == "1.2"
    assert app["storage_authentication_type"] == "SystemAssignedIdentity"
    host = json.loads((ROOT / "host.json").read_text())
    assert host["customHandler"]["description"]["defaultExecutablePath"] == "handler"
    assert host["extensions"]["serviceBus"]["autoCompleteMessages"] is True


def test_the_identity_gets_its_service_bus_roles_on_the_queue_only(tf):
    roles = resources(tf, "azurerm_role_assignment")
    service_bus = [r for r in roles.values() if r["role_definition_name"].startswith("Azure Service Bus")]
    assert service_bus, "no Service Bus role"
    for r in service_bus:
        assert strip(r["scope"]) == "azurerm_servicebus_queue.jobs.id", "never the namespace"
    # Which ones exist for which setting: test_deploy.py evaluates their counts.


def test_local_auth_and_shared_keys_are_off(tf):
    ns = next(iter(resources(tf, "azurerm_servicebus_namespace").values()))
    assert ns["local_auth_enabled"] is False and ns["sku"] == "Standard"
    sa = next(iter(resources(tf, "azurerm_storage_account").values()))
    assert sa["shared_access_key_enabled"] is False
    assert sa["min_tls_version"] == "TLS1_2"
    assert sa["allow_nested_items_to_be_public"] is False


def test_alerts_cover_dead_letters_failure_rate_and_ingest_latency(tf):
    metric = resources(tf, "azurerm_monitor_metric_alert")
    assert any(a["criteria"][0]["metric_name"] == "DeadletteredMessages" for a in metric.values())
    queries = " ".join(a["criteria"][0]["query"] for a in resources(tf, "azurerm_monitor_scheduled_query_rules_alert_v2").values())
    assert "countif(success == false)" in queries and "percentile(duration, 95)" in queries
    assert 'name == "JobFlagged"' in queries, "velocity flags are alerted (seed 002)"


SECRET_PATTERNS = [
    re.compile(r"AccountKey=[A-Za-z0-9+/=]{20,}"),
    re.compile(r"SharedAccessKey=[A-Za-z0-9+/=]{20,}"),
    re.compile(r"InstrumentationKey=[0-9a-f]{8}-[0-9a-f]{4}-"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


def test_no_secrets_or_connection_strings_in_the_repo():
    paths = [*TF.rglob("*.tf"), *TF.glob("*.tfvars*"), *(ROOT / ".github").rglob("*.yml"), ROOT / "local.settings.json", ROOT / "host.json"]
    for path in paths:
        text = path.read_text()
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(text), f"{path.relative_to(ROOT)} contains something like a secret ({pattern.pattern})"
