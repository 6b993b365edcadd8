#!/usr/bin/env node
'use strict';
// Haven admin CLI; the code lives in admin-cli/ (built to dist/admin-cli/).
require('../dist/admin-cli/main.js').main();
