/** The bundled vLLM simulator (a test double). */
export { startSimulator, startSimulatorCluster, type SimulatorHandle, type SimulatorStartOptions } from './simulator.js';
export { DEFAULT_SIMULATOR_OPTIONS, FAULT_KINDS, type FaultConfig, type FaultKind, type SimulatorDialect, type SimulatorOptions, type SimulatorRuntimeConfig } from './options.js';
export type { SimStats } from './sim-metrics.js';
export { runSimulatorCli, parseSimulatorArgs } from './main.js';
