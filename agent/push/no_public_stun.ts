/**
 * werift (0.25, `ice.js` `applyStunTurnServersFromOptions`) falls back to stun.l.google.com:19302
 * whenever no STUN server is configured: a vehicle would ask Google for its public address on
 * every WHIP session, whatever `--stun` says. The agent asks only the STUN servers it is given.
 * (vsb-proxy does the same for its answerer in proxy/webrtc/answer_peer.ts; the programs share
 * no werift code, only the wire contract.)
 */

/** What {@link withoutPublicStun} touches of werift's ICE `Connection`. */
interface IceConnectionLike {
  stunServer?: unknown;
  options: { stunServer?: unknown };
}

/**
 * Switches werift's public STUN fallback off on every ICE connection of `pc` that has no STUN
 * server of ours; call it after addTransceiver(), before setLocalDescription() gathers.
 * Returns the number of connections seen; throws when werift's internals are not found.
 */
export function withoutPublicStun(pc: { iceTransports: unknown[] }): number {
  let n = 0;
  for (const transport of pc.iceTransports) {
    const connection = (transport as { connection?: IceConnectionLike }).connection;
    if (!connection?.options) continue;
    n++;
    if (connection.options.stunServer) continue; // one of ours (--stun)
    connection.options.stunServer = false;
    connection.stunServer = undefined;
  }
  if (n === 0) throw new Error("found no werift ICE connection to keep off public STUN; werift's internals changed");
  return n;
}
