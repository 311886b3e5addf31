export * from './schema.js'
export {loadPlan, validatePlan, findPlanFile, formatIssues} from './load.js'
export {interpolateEnv} from './interpolate.js'
