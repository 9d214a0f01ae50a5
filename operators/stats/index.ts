export { trajectoryStats, summarizeStats, COMPLEXITY_WEIGHTS, type FieldSummary, type StatsSummary } from './stats.js';
