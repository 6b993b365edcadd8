#!/usr/bin/env node
'use strict';
// Runs the built agent (dist/) when it is at least as new as the source; otherwise (a
// development checkout with edits since the last build) the TypeScript source through tsx.
const path = require('node:path');
const fs = require('node:fs');
const root = path.join(__dirname, '..');
const built = path.join(root, 'dist', 'edge-agent', 'cli.js');
const srcDir = path.join(root, 'edge-agent');
const mtime = (f) => {
  try {
    return fs.statSync(f).mtimeMs;
  } catch {
    return 0;
  }
};
let newestSource = 0;
try {
  for (const f of fs.readdirSync(srcDir))
    if (f.endsWith('.ts')) newestSource = Math.max(newestSource, mtime(path.join(srcDir, f)));
} catch {
  // no sources shipped: use the build
}
let cli;
if (fs.existsSync(built) && mtime(built) >= newestSource) cli = require(built);
else {
  require('tsx/cjs');
  cli = require(path.join(srcDir, 'cli.ts'));
}
cli.main(process.argv.slice(2)).then((code) => process.exit(code));
