import type { ConnectionOptions } from 'node:tls';
import { logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaSourceConfig } from '../config/schema.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { ORPHAN_MESSAGE } from './tracked-sockets.js';

/** The connection part of the Kafka source config (the dead-letter sink and `produce` reuse it). */
export type KafkaConnectionConfig = Pick<KafkaSourceConfig, 'brokers' | 'clientId' | 'ssl' | 'sasl'>;

/**
 * Messages kafkajs logs at error level for conditions it retries on its own. The first request of
 * a new consumer group hits "The group coordinator is not available" while the broker creates
 * __consumer_offsets; a rebalance logs the join it is about to redo; closing connections kafkajs lost
 * track of (see trackedSockets) logs a connection error. None needs a human.
 */
const EXPECTED_NOISE = [/group coordinator is not available/i, /group is rebalancing/i, /not the correct coordinator/i, new RegExp(ORPHAN_MESSAGE)];

/**
 * kafkajs client config from gemflow config: brokers, client id, TLS and SASL passed through,
 * kafkajs' own log lines (WARN and above) routed to the gemflow logger without the expected noise,
 * and retry timings that ride out a broker restart (kafkajs retries each request; the consumer
 * restarts itself after that, see KafkaSource).
 */
export function kafkaClientConfig(cfg: KafkaConnectionConfig, logger: Logger = createLogger()): KafkaConfig {
  const config: KafkaConfig = {
    clientId: cfg.clientId,
    brokers: cfg.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => logKafkaEntry(entry, logger),
    connectionTimeout: 3000,
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8 },
  };
  if (cfg.ssl !== undefined) config.ssl = cfg.ssl === true || cfg.ssl === false ? cfg.ssl : (cfg.ssl as ConnectionOptions);
  if (cfg.sasl) config.sasl = cfg.sasl as SASLOptions;
  return config;
}

/**
 * Consumer group timings. A dead member's partitions move after its session times out, so the session
 * is short (default 6 s, the broker's minimum); heartbeats every tenth of it (0.5-3 s), which is
 * also how soon a live member learns of a rebalance; a rebalance waits at most rebalanceTimeoutMs for
 * members to rejoin (a member that does not is dropped).
 */
export function groupTimings(cfg: Pick<KafkaSourceConfig, 'sessionTimeoutMs' | 'rebalanceTimeoutMs'>): { sessionTimeout: number; heartbeatInterval: number; rebalanceTimeout: number } {
  return {
    sessionTimeout: cfg.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.min(3000, Math.floor(cfg.sessionTimeoutMs / 10))),
    rebalanceTimeout: cfg.rebalanceTimeoutMs,
  };
}

function logKafkaEntry(entry: LogEntry, logger: Logger): void {
  const { message, error } = entry.log as { message: string; error?: unknown };
  const text = typeof error === 'string' ? `${message}: ${error}` : message;
  if (EXPECTED_NOISE.some((re) => re.test(text))) return;
  const fields = { component: `kafkajs.${entry.namespace || 'client'}` };
  if (entry.level === logLevel.ERROR) logger.error(text, fields);
  else logger.warn(text, fields);
}
