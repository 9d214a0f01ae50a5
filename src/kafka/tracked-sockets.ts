import net from 'node:net';
import tls from 'node:tls';
import type { ISocketFactory } from 'kafkajs';

/** TCP keep-alive delay, as kafkajs' own socket factory sets it. */
const KEEP_ALIVE_MS = 60_000;

/** The error orphaned sockets are destroyed with (kafkajs logs it; the logger drops it as expected). */
export const ORPHAN_MESSAGE = 'closing a connection kafkajs lost track of';

export interface TrackedSockets {
  /** Pass as `socketFactory` in the kafkajs client config. */
  socketFactory: ISocketFactory;
  /** Closes every socket kafkajs left open (call after the client's disconnect()). */
  destroyAll(): void;
}

/**
 * A kafkajs socket factory that remembers the sockets it opened. kafkajs can lose track of a
 * connection across a broker outage: BrokerPool.removeBroker drops an unreachable broker from the
 * pool without closing it, and a request still retrying on it reconnects it later. disconnect()
 * then leaves that connection open (its socket and its request-timeout interval), and the process
 * never exits (seen after a broker restart under `gemflow run`). destroyAll() after disconnect()
 * fails the sockets kafkajs did not end itself with ORPHAN_MESSAGE: kafkajs' error handler then
 * closes its side of the connection, interval included.
 */
export function trackedSockets(): TrackedSockets {
  const open = new Set<net.Socket>();
  const socketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    const socket = ssl
      ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, KEEP_ALIVE_MS);
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    return socket;
  };
  return {
    socketFactory,
    destroyAll() {
      // kafkajs ends the sockets it still knows about on disconnect(); the others are orphans.
      for (const socket of open) if (!socket.writableEnded) socket.destroy(new Error(ORPHAN_MESSAGE));
      open.clear();
    },
  };
}
