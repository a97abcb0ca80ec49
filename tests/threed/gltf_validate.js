// Validate glTF/GLB files with the Khronos glTF-Validator (npm gltf-validator):
// node gltf_validate.js FILE...; prints one JSON line per file with its issue counts
// and messages, exits 1 when any file has errors.
const validator = require("gltf-validator");
const fs = require("fs");
const path = require("path");

async function main() {
  let failed = false;
  for (const file of process.argv.slice(2)) {
    const report = await validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {
      uri: file,
      externalResourceFunction: (uri) =>
        Promise.resolve(new Uint8Array(fs.readFileSync(path.join(path.dirname(file), decodeURIComponent(uri))))),
    });
    const issues = report.issues;
    failed = failed || issues.numErrors > 0;
    console.log(JSON.stringify({
      file,
      errors: issues.numErrors,
      warnings: issues.numWarnings,
      messages: issues.messages.filter((m) => m.severity <= 1).map((m) => `${m.code}: ${m.message} (${m.pointer || ""})`),
    }));
  }
  process.exit(failed ? 1 : 0);
}
main();
