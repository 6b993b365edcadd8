#!/usr/bin/env node
'use strict';
// Runs the built agent (dist/) when present, else the TypeScript source through tsx (development).
const path = require('node:path');
const fs = require('node:fs');
const built = path.join(__dirname, '..', 'dist', 'edge-agent', 'cli.js');
let cli;
if (fs.existsSync(built)) cli = require(built);
else {
  require('tsx/cjs');
  cli = require(path.join(__dirname, '..', 'edge-agent', 'cli.ts'));
}
cli.main(process.argv.slice(2)).then((code) => process.exit(code));
