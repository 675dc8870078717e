#!/usr/bin/env node
// The snax command. Commands live in dist/src/commands (built by `npm install`).
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
