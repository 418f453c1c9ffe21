// What the JavaScript SDK scripts share (js_sdk.cjs, admin_js.cjs): run the scenario named on
// the command line, print "scenario held: NAME" when it held, exit 1 when it threw.
"use strict";

function runScenario(scenarios) {
  (async () => {
    const name = process.argv[2];
    await scenarios[name]();
    console.log(`scenario held: ${name}`);
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

module.exports = { runScenario };
