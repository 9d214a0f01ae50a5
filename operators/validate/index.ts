export { validateTrajectory, VIOLATION_RULES, type Violation, type ViolationRule } from './validate.js';
export {
  SchemaValidatorCache,
  type ArgumentValidator,
  type CompiledSchema,
  type SchemaError,
  type SchemaValidatorCacheOptions,
} from './schema-validator-cache.js';
export { canonicalJson } from './canonical-json.js';
