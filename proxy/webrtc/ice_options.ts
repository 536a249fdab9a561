/**
 * The ICE settings every answering peer connection takes (the WHIP ingest's and the WHEP
 * playback's), as the `--ice-*` flags set them.
 */

/** An ICE server as RTCPeerConnection takes it. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** ICE settings of the ingest; each field documents its default. */
export interface IngestIceOptions {
  /**
   * Addresses announced in answers (`--ice-address`): the public/NAT address of a MEC, or
   * 127.0.0.1 in tests. Only candidates with these addresses are sent. Default: every
   * non-internal IPv4 address of the host.
   */
  addresses?: string[];
  /** Local IPv4 address the UDP sockets bind to. Default: all (0.0.0.0). */
  bindAddress?: string;
  /** SO_RCVBUF of each media socket (capped by net.core.rmem_max). Default 4 MiB. */
  receiveBufferBytes?: number;
  /** UDP port range for media sockets, inclusive. Default: ephemeral ports. */
  portRange?: [number, number];
  /** ICE-lite (RFC 8445 §2.5): answer checks, never send them. Default true. */
  lite?: boolean;
  /** STUN/TURN servers; used only when `lite` is false. Default none (never a public one). */
  servers?: IceServer[];
}
