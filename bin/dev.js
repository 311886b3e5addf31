#!/usr/bin/env node
// Development entry point: runs the TypeScript sources through tsx (registered
// here, so it resolves from this package whatever the working directory is).
import {register} from 'tsx/esm/api'

register()
const {execute} = await import('@oclif/core')
await execute({development: true, dir: import.meta.url})
