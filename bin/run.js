#!/usr/bin/env node
// Production entry point: the compiled commands in dist/ (built by `npm run build`
// and by `npm pack`). In a source checkout that was never built, run the
// TypeScript sources through tsx instead, so `npx strangler` works right after `npm ci`.
import {existsSync} from 'node:fs'

const built = existsSync(new URL('../dist/commands/', import.meta.url))
if (!built) {
  const {register} = await import('tsx/esm/api')
  register()
}
const {execute} = await import('@oclif/core')
await execute({development: !built, dir: import.meta.url})
