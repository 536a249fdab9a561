/**
 * amqplib writes every frame of a message to its socket on its own: the method and header
 * frames, then each body frame, each one a `send` system call (and, on loopback, a wake-up of
 * RabbitMQ). Its multiplexer writes everything pending in one pass (`Mux._readIncoming`, run
 * from `setImmediate`), so corking the socket around that pass makes the pass one `writev`.
 * Measured with 16 streams into one proxy (`make bench-proxy`): see README "Performance".
 *
 * This reaches into amqplib's internals (connection.muxer, connection.stream), so it checks
 * their shape and leaves the connection as it is when they are not what it expects.
 */

interface CorkableStream {
  cork(): void;
  uncork(): void;
}

interface MuxLike {
  _readIncoming: () => void;
}

/** Makes amqplib's writes of one pass a single socket write; returns false when it could not. */
export function coalesceWrites(model: unknown): boolean {
  const connection = (model as { connection?: { muxer?: unknown; stream?: unknown } } | undefined)?.connection;
  const mux = connection?.muxer as MuxLike | undefined;
  const stream = connection?.stream as CorkableStream | undefined;
  if (typeof mux?._readIncoming !== "function") return false;
  if (typeof stream?.cork !== "function" || typeof stream.uncork !== "function") return false;
  const pass = mux._readIncoming;
  mux._readIncoming = function corked(this: MuxLike) {
    stream.cork();
    try {
      pass.call(this);
    } finally {
      stream.uncork();
    }
  };
  return true;
}
