/**
 * strangler as a library: the plan helpers for `strangler.config.ts`, and the
 * building blocks the commands use, for teams that drive a migration from
 * their own code. The application SDK is `strangler/sdk`.
 */
export {defineConfig, type PlanInput, type Plan} from './config/schema.js'
export {loadPlan, validatePlan} from './config/load.js'
export {Workspace} from './workspace.js'
export {runDiff, lastDiff, type DiffOptions, type DiffRunResult} from './diff/run-diff.js'
export {runRepair} from './diff/repair.js'
export {runShadow, abortShadow} from './phases/shadow.js'
export {verifyShadow} from './phases/shadow-verify.js'
export {advance} from './phases/machine.js'
export {checkGates, type GateResult} from './phases/gates.js'
export {runShift} from './phases/shift.js'
export {runDecommission, purgeArchive} from './phases/decommission/decommission.js'
export {runRollback} from './phases/decommission/rollback.js'
export {Relay} from './capture/relay.js'
export {collectReport} from './report/collect.js'
export {UserError} from './util/errors.js'
