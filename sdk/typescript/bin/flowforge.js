#!/usr/bin/env node
// The flowforge command: the compiled CLI (a file that exists before the build, so npm can link it).
import "../dist/cli.js";
