/**
 * werift (0.25) makes its ICE sockets with `dgram.createSocket()` and listens for "message"
 * only. A socket that gets an ICMP port unreachable back (the peer's port closed: a publisher
 * or viewer that went away) then emits "error" (`recvmsg ECONNREFUSED` under Bun) with nobody
 * listening, which Node's EventEmitter throws: an uncaught exception, which ends vsb-proxy
 * (every stream with it) and fails a test run. Nothing is lost by ignoring it: ICE consent
 * (RFC 7675), the RTCP watchdogs and the media timeouts notice a peer that is gone.
 *
 * `guardUdpErrors(UdpTransport, log)` gives every socket of werift's `UdpTransport` (passed in:
 * shared/ does not import werift) an "error" listener before it binds, which logs the first
 * error of each socket. Idempotent.
 */

/** werift's UdpTransport class (its `init()` is private in werift's types). */
export interface UdpTransportClass {
  prototype: object;
}

type Init = (...args: unknown[]) => Promise<unknown>;

const GUARDED = Symbol.for("vsb.udpErrorsGuarded");

/** Counts of errors caught (all sockets). */
export const udpErrorCounters = { caught: 0 };

/** Patches `transport.prototype.init` to listen for socket errors first. */
export function guardUdpErrors(transport: UdpTransportClass, log: (msg: string, fields: Record<string, unknown>) => void): void {
  const proto = transport.prototype as { init?: Init; [GUARDED]?: true };
  if (proto[GUARDED]) return;
  const init = proto.init;
  if (typeof init !== "function") throw new Error("werift's UdpTransport has no init(): its socket errors cannot be guarded (werift changed)");
  proto.init = function (this: { socket?: { on(event: "error", fn: (error: Error) => void): unknown } }, ...args: unknown[]) {
    let logged = false;
    this.socket?.on("error", (error) => {
      udpErrorCounters.caught++;
      if (logged) return;
      logged = true;
      log("udp socket error ignored (the peer's port is closed?)", { error: error.message });
    });
    return init.apply(this, args);
  };
  proto[GUARDED] = true;
}
