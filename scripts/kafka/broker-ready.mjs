// One readiness probe: exits 0 when the cluster at BOOTSTRAP serves metadata listing at least NODES
// brokers and has an active controller, 1 otherwise. kafka.sh calls it in a loop.
import kafkajs from 'kafkajs';

const [bootstrap, nodes = '1'] = process.argv.slice(2);
const kafka = new kafkajs.Kafka({
  clientId: 'gemflow-kafka-sh',
  brokers: bootstrap.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 2000,
  retry: { retries: 0 },
});
const admin = kafka.admin();
try {
  await admin.connect();
  const cluster = await admin.describeCluster();
  const ok = cluster.brokers.length >= Number(nodes) && cluster.controller !== null && cluster.controller >= 0;
  process.exitCode = ok ? 0 : 1;
} catch {
  process.exitCode = 1;
} finally {
  await admin.disconnect().catch(() => {});
}
