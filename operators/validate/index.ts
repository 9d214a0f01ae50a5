export { validateTrajectory, VIOLATION_RULES, type Violation, type ViolationRule } from './validate.js';
export { SchemaValidatorCache, type CompiledSchema } from './schema-validator-cache.js';
export { canonicalJson } from './canonical-json.js';
