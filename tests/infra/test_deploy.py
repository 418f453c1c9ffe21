"""The traps between `terraform apply`, the first deploy and `terraform destroy` (issue 13).

Each test names the provider or platform behaviour it guards against. Where a value is computed
(names, counts, host names) Terraform itself evaluates the project's expressions (tfeval.py).
"""

import re
from pathlib import Path

import pytest

from test_infra import ROOT, TF, load_tf, norm, resources, strip, variable_default
import tfeval

DEPLOY_MD = ROOT / "docs" / "DEPLOY.md"


@pytest.fixture(scope="module")
def tf():
    return load_tf()


@pytest.fixture(scope="module")
def app(tf):
    return next(iter(resources(tf, "azurerm_function_app_flex_consumption").values()))


# 1. AzureWebJobsStorage with an empty key ---------------------------------------------------


def test_app_settings_neutralise_the_providers_keyless_storage_string(app):
    """azurerm writes AzureWebJobsStorage=...;AccountKey=;... even for identity storage
    (terraform-provider-azurerm#29693); a user setting replaces it (MergeUserAppSettings)."""
    settings = app["app_settings"]
    assert settings.get("AzureWebJobsStorage") == "", "AzureWebJobsStorage must be set to an empty string"
    assert strip(settings["AzureWebJobsStorage__accountName"]) == "azurerm_storage_account.runtime.name"
    assert app["storage_authentication_type"] == "SystemAssignedIdentity"
    for name, value in settings.items():
        assert "AccountKey=" not in str(value), f"{name} carries a storage key"
        assert not (name.startswith("AzureWebJobsStorage") and "DefaultEndpointsProtocol" in str(value))


# 2. Names valid by construction --------------------------------------------------------------

NAME_RULES = {
    # Azure's rules (Microsoft's "Naming rules and restrictions for Azure resources").
    "azurerm_resource_group": (r"^[-\w.()]{1,89}[-\w()]$", None),
    "azurerm_storage_account": (r"^[a-z0-9]{3,24}$", None),
    # Sites allow 2-60; the Functions host ID is the first 32 characters, so stay within 32.
    "azurerm_function_app_flex_consumption": (r"^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$", None),
    "azurerm_service_plan": (r"^[a-zA-Z0-9-]{1,60}$", None),
    "azurerm_servicebus_namespace": (r"^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$", r"(-sb|-mgmt)$"),
    "azurerm_log_analytics_workspace": (r"^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$", None),
    "azurerm_application_insights": (r"^[^%&\\?/]{1,255}$", None),
    "azurerm_monitor_action_group": (r"^[^<>*%&:\\?+/]{1,260}$", None),
    "azurerm_monitor_metric_alert": (r"^[^<>*%{}&:\\?+/#|]{1,260}$", None),
    "azurerm_monitor_scheduled_query_rules_alert_v2": (r"^[^<>*%{}&:\\?+/#|]{1,260}$", None),
}
NAMING_VARIABLES = ["project", "environment", "tags"]
EXTREMES = {
    "shortest": {"project": "abc", "environment": "de", "suffix": "aaaaaa"},
    "longest": {"project": "abcdefghijkl", "environment": "abcdefgh", "suffix": "zzzzzz"},
    "digits": {"project": "a00000000000", "environment": "b0000000", "suffix": "000000"},
    "mixed": {"project": "rjobs", "environment": "prod", "suffix": "9a8b7c"},
}


def name_expressions(tf):
    out = {}
    for kind in NAME_RULES:
        for res, body in resources(tf, kind).items():
            out[f"{kind}__{res}"] = tfeval.expression(body["name"])
    return out


def test_every_generated_name_is_valid_for_the_allowed_extremes(tf):
    """Terraform evaluates each resource's name for the shortest and longest inputs the
    project/environment validations accept (the suffix is random_string: 6 of [a-z0-9])."""
    raw = {k: v for block in tf["resource"] for k, v in block.items()}
    suffix = raw["random_string"]["suffix"]
    assert (suffix["length"], suffix["upper"], suffix["special"]) == (6, False, False)
    names = tfeval.evaluate(TF, NAMING_VARIABLES, name_expressions(tf), EXTREMES)
    for case, values in names.items():
        for key, value in values.items():
            kind = key.split("__")[0]
            pattern, forbidden = NAME_RULES[kind]
            assert re.match(pattern, value), f"{case}: {key} = {value!r} breaks {kind}'s naming rule"
            assert not (forbidden and re.search(forbidden, value)), f"{case}: {key} = {value!r}"
    storage = names["longest"]["azurerm_storage_account__runtime"]
    assert storage.endswith("zzzzzz"), "the unique suffix survives the cut"
    app_names = {v["azurerm_function_app_flex_consumption__main"] for v in names.values()}
    assert len(app_names) == len(EXTREMES), "different inputs give different host IDs"


@pytest.mark.parametrize(
    "case",
    [
        {"project": "abcdefghijklm", "environment": "dev"},  # 13 characters
        {"project": "rjobs", "environment": "abcdefghi"},  # 9 characters
        {"project": "Rjobs", "environment": "dev"},
        {"project": "rjobs", "environment": "dev-1"},
    ],
)
def test_the_validations_reject_what_the_names_do_not_cover(case):
    assert tfeval.rejected(TF, NAMING_VARIABLES, case), f"{case} was accepted"


# 3. Provider floor ---------------------------------------------------------------------------


def version_floor(constraint):
    parts = [c.strip() for c in constraint.split(",")]
    floor, ceiling = None, None
    for p in parts:
        m = re.match(r"^(>=|~>|<|=)?\s*(\d+)\.(\d+)(?:\.(\d+))?$", p)
        assert m, f"cannot read version constraint {p!r}"
        op, version = m.group(1) or "=", tuple(int(x or 0) for x in m.groups()[1:])
        if op in (">=", "~>", "="):
            floor = version
        if op == "~>":
            ceiling = (version[0] + 1, 0, 0) if m.group(4) is None else (version[0], version[1] + 1, 0)
        if op == "<":
            ceiling = version
    return floor, ceiling


def test_the_azurerm_floor_supports_what_the_variables_allow(tf):
    """maximum_instance_count below 40 needs azurerm >= 4.58 (PR #31392); instance_memory_in_mb
    updates need >= 4.43 (GH-30489); 5.x is untested."""
    azurerm = tf["terraform"][0]["required_providers"][0]["azurerm"]
    floor, ceiling = version_floor(azurerm["version"])
    assert floor >= (4, 58, 0), f"azurerm floor {floor} admits releases that reject maximum_instance_count < 40"
    assert ceiling is not None and ceiling <= (5, 0, 0), "no upper bound below 5.0"
    variables = {k: v for block in tf["variable"] for k, v in block.items()}
    assert "var.maximum_instance_count >= 1" in variables["maximum_instance_count"]["validation"][0]["condition"]


def test_deploy_md_explains_the_lock_file():
    text = DEPLOY_MD.read_text()
    assert ".terraform.lock.hcl" in text and "ci.yml" in text
    lock_section = text[text.index(".terraform.lock.hcl") - 600 : text.index(".terraform.lock.hcl") + 600]
    assert "terraform init" in lock_section and "artifact" in lock_section


# 4. terraform destroy works -------------------------------------------------------------------


def test_destroy_is_not_blocked_by_what_application_insights_creates(tf):
    features = tf["provider"][0]["azurerm"]["features"][0]
    assert features["application_insights"][0]["disable_generated_rule"] is True
    assert features["resource_group"][0]["prevent_deletion_if_contains_resources"] is False
    text = DEPLOY_MD.read_text()
    assert "disable_generated_rule" in text and "prevent_deletion_if_contains_resources" in text


# 5. Telemetry ingestion with Entra ID --------------------------------------------------------


def test_telemetry_is_ingested_with_entra_id_only(tf, app):
    appi = next(iter(resources(tf, "azurerm_application_insights").values()))
    assert appi["local_authentication_disabled"] is True
    assert app["app_settings"]["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD"
    roles = resources(tf, "azurerm_role_assignment").values()
    publisher = [r for r in roles if r["role_definition_name"] == "Monitoring Metrics Publisher"]
    assert [strip(r["scope"]) for r in publisher] == ["azurerm_application_insights.main.id"]
    # The handler's exporter honours the same setting (crates/handler/src/telemetry/auth.rs).
    auth_rs = (ROOT / "crates/handler/src/telemetry/auth.rs").read_text()
    assert "APPLICATIONINSIGHTS_AUTHENTICATION_STRING" in auth_rs and "https://monitor.azure.com/" in auth_rs


# 6. Service Bus roles -------------------------------------------------------------------------


def test_service_bus_roles_are_exact_and_never_redundant(tf):
    roles = resources(tf, "azurerm_role_assignment")
    bus = {k: r for k, r in roles.items() if r["role_definition_name"].startswith("Azure Service Bus")}
    for key, r in roles.items():
        # The app's own roles are typed as its service principal; readers as the variable says.
        want = "each.value" if key == "telemetry_reader" else "ServicePrincipal"
        assert strip(r.get("principal_type")) == want, f"{key} has no principal_type"
    for key, r in bus.items():
        assert strip(r["scope"]) == "azurerm_servicebus_queue.jobs.id", f"{key} is not scoped to the queue"
    # Which assignments exist: Terraform evaluates the app's for_each (the table, filtered).
    for_each = resources(tf, "azurerm_role_assignment", expand=False)["app"]["for_each"]
    answer = tfeval.evaluate(
        TF,
        ["queue_manage_rights"],
        {"keys": f"keys({tfeval.expression(for_each)})"},
        {"manage": {"queue_manage_rights": True}, "send_receive": {"queue_manage_rights": False}, "default": {}},
    )
    granted = {case: {bus[k]["role_definition_name"] for k in v["keys"] if k in bus} for case, v in answer.items()}
    assert all({"runtime_storage", "telemetry_publisher"} <= set(v["keys"]) for v in answer.values())
    assert granted["manage"] == {"Azure Service Bus Data Owner"}, "Data Owner already sends and receives"
    assert granted["send_receive"] == {"Azure Service Bus Data Receiver", "Azure Service Bus Data Sender"}
    assert granted["default"] == granted["manage"]
    rbac = (TF / "rbac.tf").read_text()
    for reason in ("target-based scaling", "backoff", "backpressure", "trigger"):
        assert reason in rbac, f"rbac.tf does not record why ({reason})"
    assert "queue_manage_rights" in DEPLOY_MD.read_text()


# 6b. Telemetry readers -----------------------------------------------------------------------


def test_telemetry_readers_get_reader_on_application_insights_only(tf):
    """`jobctl job` / `jobctl audit` query api.applicationinsights.io: "Reader" on the resource
    (Microsoft Learn, "Application Insights API access with Microsoft Entra authentication")."""
    r = resources(tf, "azurerm_role_assignment")["telemetry_reader"]
    assert r["role_definition_name"] == "Reader"
    assert strip(r["scope"]) == "azurerm_application_insights.main.id", "never the resource group"
    assert strip(r["for_each"]) == "var.telemetry_readers"
    assert (strip(r["principal_id"]), strip(r["principal_type"])) == ("each.key", "each.value")
    assert variable_default(tf, "telemetry_readers") == {}
    assert "telemetry_readers" in (ROOT / "docs" / "OPERATIONS.md").read_text()
    assert 'Reader' in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(
    "readers",
    [
        {"not-a-guid": "User"},
        {"00000000-0000-0000-0000-000000000001": "Everyone"},
    ],
)
def test_the_reader_variable_rejects_what_azure_would(readers):
    assert tfeval.rejected(TF, ["telemetry_readers"], {"telemetry_readers": readers}), f"{readers} was accepted"


def test_the_reader_variable_accepts_object_ids_with_their_type():
    ok = {"00000000-0000-0000-0000-000000000001": "Group", "00000000-0000-0000-0000-0000000000AB": "User"}
    assert not tfeval.rejected(TF, ["telemetry_readers"], {"telemetry_readers": ok})


# Small truths ---------------------------------------------------------------------------------


def test_deploy_md_counts_the_alerts_that_exist(tf):
    alerts = len(resources(tf, "azurerm_monitor_metric_alert")) + len(
        resources(tf, "azurerm_monitor_scheduled_query_rules_alert_v2")
    )
    words = {2: "two", 3: "three", 4: "four", 5: "five"}
    text = DEPLOY_MD.read_text()
    assert f"{words[alerts]} alerts" in text
    assert not any(f"{w} alerts" in text for n, w in words.items() if n != alerts)


def test_zone_redundancy_is_offered_and_the_skip_says_so(tf):
    plan = next(iter(resources(tf, "azurerm_service_plan").values()))
    assert strip(plan["zone_balancing_enabled"]) == "var.zone_redundant"
    text = (TF / "functionapp.tf").read_text()
    skip = re.search(r"checkov:skip=CKV_AZURE_225:(.*)", text).group(1)
    assert "zone_redundant" in skip and "no zone_balancing" not in skip


def test_the_latency_alert_ignores_cold_starts(tf):
    variables = {k: v for block in tf["variable"] for k, v in block.items()}
    assert "ingest_p99_alert_ms" not in variables
    assert variables["ingest_p95_alert_ms"]["default"] >= 1000
    query = next(
        a["criteria"][0]["query"]
        for a in resources(tf, "azurerm_monitor_scheduled_query_rules_alert_v2").values()
        if 'name == "IngestJob"' in a["criteria"][0]["query"]
    )
    assert "percentile(duration, 95)" in query and "total >= 50" in query


def test_no_public_cloud_suffix_is_hard_coded(tf):
    for path in TF.glob("*.tf"):
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        for suffix in ("servicebus.windows.net", "core.windows.net", "azurewebsites.net"):
            assert suffix not in code, f"{path.name} hard-codes {suffix}"
    hosts = tfeval.evaluate(
        TF,
        [],
        {"fqdn": "local.servicebus_fqdn"},
        {
            "public": {"servicebus_endpoint": "https://sb-a.servicebus.windows.net:443/"},
            "usgov": {"servicebus_endpoint": "https://sb-a.servicebus.usgovcloudapi.net:443/"},
        },
    )
    assert hosts == {"public": {"fqdn": "sb-a.servicebus.windows.net"}, "usgov": {"fqdn": "sb-a.servicebus.usgovcloudapi.net"}}


def test_every_upstream_bug_worked_around_is_in_the_deploy_md_table():
    """Each provider issue or PR the Terraform cites appears in DEPLOY.md's workaround table."""
    cited = set()
    for path in TF.glob("*.tf"):
        cited |= set(re.findall(r"#(\d{4,6})\b", path.read_text()))
    text = DEPLOY_MD.read_text()
    table = text[text.index("## Provider and platform bugs worked around") :]
    for number in cited:
        assert f"#{number}" in table.split("\n## ")[0], f"#{number} is cited in terraform/ but missing from the table"


# 7. Workflows on the current action runtime ---------------------------------------------------

# Each pinned action, the release its commit is, and `runs.using` in that commit's action.yml
# (read from the action repositories, 2026-12): all node24, the runtime GitHub's runners moved to.
VETTED_ACTIONS = {
    ("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1"): ("v7.0.1", "node24"),
    ("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"): ("v7.0.0", "node24"),
    ("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c"): ("v8.0.1", "node24"),
    ("azure/login", "f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca"): ("v3.0.1", "node24"),
    ("Azure/functions-action", "c5060b3b8bb1ebbcb531abd00c822ecbaa8ea656"): ("v1.5.7", "node24"),
    ("hashicorp/setup-terraform", "dfe3c3f87815947d99a8997f908cb6525fc44e9e"): ("v4.0.1", "node24"),
}
WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name):
    import yaml

    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_every_action_is_pinned_to_a_vetted_node24_commit():
    uses_re = re.compile(r"^\s*-?\s*uses:\s*(\S+?)@(\S+)(?:\s+#\s*(\S+))?\s*$", re.M)
    seen = 0
    for path in WORKFLOWS.glob("*.yml"):
        for repo, ref, comment in uses_re.findall(path.read_text()):
            seen += 1
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path.name}: {repo}@{ref} is not pinned to a commit"
            vetted = VETTED_ACTIONS.get((repo, ref))
            assert vetted, f"{path.name}: {repo}@{ref} is not a vetted release (check its action.yml runs.using)"
            assert comment == vetted[0], f"{path.name}: {repo}@{ref} should be commented # {vetted[0]}"
            assert vetted[1] == "node24"
    assert seen >= 6


def test_github_ci_runs_the_same_script_as_the_project_machines():
    ci = workflow("ci.yml")
    runs = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert "bash .ci/run" in runs, "ci.yml must run .ci/run"
    for forbidden in ("cargo test", "cargo clippy", "cargo fmt", ".ci/infra-checks"):
        assert not any(forbidden in r for r in runs), f"ci.yml runs {forbidden!r} itself instead of through .ci/run"
    checks = next(job for job in ci["jobs"].values() if any(s.get("run") == "bash .ci/run" for s in job["steps"]))
    assert "debian" in str(checks.get("container", "")) or "trixie" in str(checks.get("container", ""))
    terraform = [job for job in ci["jobs"].values() if any("terraform" in s.get("run", "") and "validate" in s.get("run", "") for s in job["steps"])]
    assert terraform, "ci.yml validates the Terraform where the registry is reachable"
    uploads = [s for s in terraform[0]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads and uploads[0]["with"]["path"] == "terraform/.terraform.lock.hcl"
    assert uploads[0]["with"]["include-hidden-files"] is True, "upload-artifact skips dot files by default"


# 8. A deploy a team can trust --------------------------------------------------------------------


def test_deploy_applies_exactly_the_approved_plan_with_a_state_key_per_environment():
    deploy = workflow("deploy.yml")
    jobs = deploy["jobs"]
    plan, apply, ship = jobs["plan"], jobs["apply"], jobs["deploy"]
    plan_runs = "\n".join(s.get("run", "") for s in plan["steps"])
    apply_runs = "\n".join(s.get("run", "") for s in apply["steps"])
    assert "plan -out=tfplan" in plan_runs
    assert "-auto-approve" not in plan_runs + apply_runs
    assert re.search(r"apply tfplan\s*$", apply_runs, re.M), "apply runs the saved plan, nothing else"
    upload = next(s for s in plan["steps"] if "upload-artifact" in s.get("uses", ""))
    assert "terraform/tfplan" in upload["with"]["path"] and ".terraform.lock.hcl" in upload["with"]["path"]
    assert upload["with"]["include-hidden-files"] is True, "the lock file travels with the plan"
    assert any("download-artifact" in s.get("uses", "") and s["with"]["name"] == "terraform-plan" for s in apply["steps"])
    assert "plan" in apply["needs"] and "environment" not in plan
    assert apply["environment"] == "${{ needs.plan.outputs.environment }}", "the approval gate is the environment"
    assert "-lockfile=readonly" in apply_runs
    # The state key follows the environment.
    assert "state_key=resilient-jobs-$TARGET_ENVIRONMENT.tfstate" in plan_runs
    for job in (plan, apply):
        init = next(s for s in job["steps"] if "init" in s.get("run", "") and "backend-config" in s.get("run", ""))
        assert 'key=$STATE_KEY' in init["run"] and "STATE_KEY" in init["env"]
    assert "resilient-jobs.tfstate" not in (WORKFLOWS / "deploy.yml").read_text()


def test_deploy_targets_what_terraform_reports_and_smoke_tests_for_real():
    deploy = workflow("deploy.yml")
    ship = deploy["jobs"]["deploy"]
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "vars.FUNCTION_APP_NAME" not in text and "vars.RESOURCE_GROUP" not in text
    assert ship["env"]["FUNCTION_APP"] == "${{ needs.apply.outputs.function_app_name }}"
    assert ship["env"]["RESOURCE_GROUP"] == "${{ needs.apply.outputs.resource_group_name }}"
    outputs = (TF / "outputs.tf").read_text()
    for name in deploy["jobs"]["apply"]["outputs"]:
        assert f'output "{name}"' in outputs, f"apply exports {name}, which terraform does not output"
    action = next(s for s in ship["steps"] if "functions-action" in s.get("uses", ""))
    assert action["with"]["app-name"] == "${{ needs.apply.outputs.function_app_name }}"
    assert action["with"]["sku"] == "flexconsumption"
    smoke = (ROOT / ".github/scripts/smoke-test.sh").read_text()
    assert "bash .github/scripts/smoke-test.sh" in [s.get("run") for s in ship["steps"]]
    assert "x-functions-key: $key" in smoke, "authLevel function: the smoke test sends the key"
    assert "jobId" in smoke and "app-insights query" in smoke and "deadline" in smoke
    assert "exit 0" in smoke and "fail " in smoke


def run_smoke_test(tmp_path, az, curl, **env):
    """Run .github/scripts/smoke-test.sh in `tmp_path` with fake `az` and `curl` scripts (and a
    `sleep` that returns at once) first on PATH, the deploy's variables, and `env`."""
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(az)
    (bin_dir / "curl").write_text(curl)
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RESOURCE_GROUP": "rg",
        "FUNCTION_APP": "app",
        "FUNCTION_HOST": "app.example",
        "APPINSIGHTS_APP_ID": "id",
        **env,
    }
    script = str(ROOT / ".github/scripts/smoke-test.sh")
    return subprocess.run(["bash", script], cwd=tmp_path, env=env, capture_output=True, text=True)


def test_the_smoke_test_fails_loudly_when_the_app_never_answers(tmp_path):
    run = run_smoke_test(
        tmp_path,
        az="#!/bin/sh\necho fake-key\n",
        curl="#!/bin/sh\necho '{\"title\":\"boom\"}' > response.json\nprintf 500\n",
        SMOKE_POST_ATTEMPTS="3",
    )
    assert run.returncode != 0
    assert "IngestJob never answered 202 (last HTTP 500" in run.stderr


def test_the_smoke_test_waits_for_the_processed_job(tmp_path):
    state = tmp_path / "polls"
    az = (
        "#!/bin/sh\ncase \"$*\" in\n"
        "  *'keys list'*) echo fake-key ;;\n"
        "  *'app-insights query'*) n=$(cat " + str(state) + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + str(state) + ";"
        " if [ $n -ge 3 ]; then printf '1\\t1\\n'; else printf '0\\t1\\n'; fi ;;\n"
        "  *) ;;\nesac\n"
    )
    curl = "#!/bin/sh\necho '{\"jobId\":\"0193-abc\"}' > response.json\nprintf 202\n"
    run = run_smoke_test(tmp_path, az=az, curl=curl)
    assert run.returncode == 0, run.stderr
    assert "job 0193-abc processed (failed attempts before success: 1)" in run.stdout
    assert state.read_text().strip() == "3", "it polled until the job showed up"


def test_every_scanner_exception_carries_its_reason():
    """checkov skips carry the reason inline; each trivy ignore is explained in a comment
    (`# AZU-xxxx: why`) in the same file."""
    for path in TF.glob("*.tf"):
        text = path.read_text()
        for check, reason in re.findall(r"#checkov:skip=([A-Z0-9_]+):?(.*)", text):
            assert len(reason.strip()) > 20, f"{path.name}: checkov skip {check} has no reason"
        for check in re.findall(r"#trivy:ignore:([A-Z]+-\d+)", text):
            assert re.search(rf"^# {check}: .{{20,}}", text, re.M), f"{path.name}: trivy ignore {check} is not explained"


# Duplicate detection on the jobs queue -------------------------------------------------------


def test_the_jobs_queue_detects_duplicates_within_the_variable_window(tf):
    queue = next(iter(resources(tf, "azurerm_servicebus_queue").values()))
    assert queue["requires_duplicate_detection"] is True
    assert strip(queue["duplicate_detection_history_time_window"]) == "var.duplicate_detection_history_time_window"
    for block in tf["variable"]:
        if "duplicate_detection_history_time_window" in block:
            assert block["duplicate_detection_history_time_window"]["default"] == "PT10M"


@pytest.mark.parametrize("window", ["PT20S", "PT10M", "PT1H30M", "P1DT12H", "P7D"])
def test_the_window_accepts_service_bus_range(window):
    case = {"duplicate_detection_history_time_window": window}
    assert tfeval.rejected(TF, ["duplicate_detection_history_time_window"], case) is None


@pytest.mark.parametrize("window", ["PT19S", "PT0S", "P7DT1S", "P8D", "10m", "P", "PT", "00:10:00"])
def test_the_window_rejects_what_service_bus_refuses(window):
    case = {"duplicate_detection_history_time_window": window}
    assert tfeval.rejected(TF, ["duplicate_detection_history_time_window"], case), f"{window} was accepted"


def test_deploy_md_warns_that_duplicate_detection_replaces_the_queue():
    text = DEPLOY_MD.read_text()
    section = text[text.index("### Duplicate detection") :][:1500]
    assert "requires_duplicate_detection" in section and "replace the queue" in section
