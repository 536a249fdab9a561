/**
 * The AMQP 1.0 application-properties section of a message, encoded for RabbitMQ's
 * `x-amqp-1.0-app-properties` header (shared AMQP10_HEADER): the `rabbitmq_amqp1_0` plugin hands
 * these bytes, as they are, to an AMQP 1.0 receiver (Qpid Proton, 5GMETA's pipelines) as the
 * message's application-properties, which it would otherwise leave empty for a message published
 * over 0-9-1. The 0-9-1 headers stay as they are, for 0-9-1 consumers.
 *
 * OASIS AMQP 1.0, Part 3 §3.2.5: application-properties is a described map, descriptor
 * `amqp:application-properties:map` = 0x00000000:0x00000074, keys strings, values simple types.
 * Part 1 §1.2 (constructors, described types), §1.6 (primitive type encodings):
 *
 *   +------+------+------+------+------------+------------+----------------------------+
 *   | 0x00 | 0x53 | 0x74 | 0xd1 | size (u32) | count (u32)| key value key value ...    |
 *   +------+------+------+------+------------+------------+----------------------------+
 *   described  smallulong   map32   bytes after   2 × pairs      key: str8/str32 (0xa1/0xb1)
 *   (§1.2)     0x74 (§1.6.8) (§1.6.23) `size`                     values below
 *
 * Values (§1.6): boolean true 0x41 / false 0x42 (§1.6.2), long 0x81 + 8 bytes big-endian
 * two's complement (§1.6.11), string str8-utf8 0xa1 + u8 length / str32-utf8 0xb1 + u32 length
 * (§1.6.20). map32 is used always, so a frame's size field never changes width.
 *
 * Per frame only the fields that change are encoded: a dataflow's constant pairs (dataType,
 * dataSubType, dataSampleRate, sourceId, locationQuadkey, registeredSourceId) are encoded once per metadata into a
 * prefix that each frame copies.
 */
import { HEADER } from "../../shared/mod.ts";

/** The AMQP 1.0 type a property is sent as. */
export type Amqp10Type = "string" | "long" | "boolean";

/**
 * Types of the 5GMETA and vsb properties. `sourceId` is a long and `body_size` a string as
 * 5GMETA's own Qpid Proton senders set them (a Python int, `str(sys.getsizeof(body))`);
 * `dataSampleRate` is a string like them (5GMETA sent registration numbers stringified);
 * vsb's integers are longs (what Proton gives Python as a plain int), `keyframe` a boolean.
 */
export const AMQP10_TYPES: Readonly<Record<string, Amqp10Type>> = {
  [HEADER.dataType]: "string",
  [HEADER.dataSubType]: "string",
  [HEADER.dataSampleRate]: "string",
  [HEADER.sourceId]: "long",
  [HEADER.locationQuadkey]: "string",
  [HEADER.registeredSourceId]: "string",
  [HEADER.bodySize]: "string",
  [HEADER.keyframe]: "boolean",
  [HEADER.seq]: "long",
  [HEADER.rtpTimestamp]: "long",
  [HEADER.captureTime]: "long",
  [HEADER.receiveTime]: "long",
  [HEADER.captureTimeSource]: "string",
  [HEADER.width]: "long",
  [HEADER.height]: "long",
};

/** Descriptor (§1.2: 0x00, then smallulong 0x53 0x74) and map32 constructor. */
const SECTION_HEAD = [0x00, 0x53, 0x74, 0xd1] as const;
/** SECTION_HEAD + size + count. */
const HEAD_BYTES = 4 + 4 + 4;
const TWO_32 = 4294967296;

/** Bytes of `value` encoded as AMQP 1.0 `type`. */
function valueBytes(key: string, value: unknown, type: Amqp10Type): Buffer {
  switch (type) {
    case "boolean":
      if (typeof value !== "boolean") throw new TypeError(`AMQP 1.0 property "${key}" must be a boolean, got "${String(value)}"`);
      return Buffer.from([value ? 0x41 : 0x42]);
    case "long": {
      const out = Buffer.allocUnsafe(9);
      writeLong(out, 0, toLong(key, value));
      return out;
    }
    case "string":
      return stringBytes(String(value));
  }
}

/** str8-utf8 / str32-utf8 (§1.6.20). */
export function stringBytes(text: string): Buffer {
  const utf8 = Buffer.from(text, "utf8");
  const head = utf8.length < 256 ? Buffer.from([0xa1, utf8.length]) : Buffer.from([0xb1, 0, 0, 0, 0]);
  if (utf8.length >= 256) head.writeUInt32BE(utf8.length, 1);
  return Buffer.concat([head, utf8]);
}

/** `value` as a long: times in ms may carry a fraction (a clock's), which is rounded off. */
export function toLong(key: string, value: unknown): number {
  const n = typeof value === "number" ? Math.round(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new TypeError(`AMQP 1.0 property "${key}" must be an integer, got "${String(value)}"`);
  return n;
}

/**
 * long (§1.6.11) at `at`: 0x81 and 8 bytes big-endian two's complement; returns the next offset.
 * `code` 0x83 writes a timestamp (§1.6.17: ms since the Unix epoch, the same 8 bytes).
 */
export function writeLong(out: Buffer, at: number, value: number, code = 0x81): number {
  const hi = Math.floor(value / TWO_32);
  out[at] = code;
  out.writeInt32BE(hi, at + 1);
  out.writeUInt32BE(value - hi * TWO_32, at + 5);
  return at + 9;
}

function typeOf(key: string, types: Readonly<Record<string, Amqp10Type>>): Amqp10Type {
  const type = types[key];
  if (!type) throw new TypeError(`AMQP 1.0 property "${key}" has no type in AMQP10_TYPES`);
  return type;
}

/** The encoded pairs of `record` in its key order. */
function pairBytes(record: Readonly<Record<string, unknown>>, types: Readonly<Record<string, Amqp10Type>>): Buffer[] {
  return Object.entries(record).flatMap(([key, value]) => [stringBytes(key), valueBytes(key, value, typeOf(key, types))]);
}

/** A whole application-properties section holding `record` (for events: not per frame). */
export function encodeAppProperties(record: Readonly<Record<string, unknown>>, types = AMQP10_TYPES): Buffer {
  const pairs = pairBytes(record, types);
  const body = Buffer.concat(pairs);
  const out = Buffer.allocUnsafe(HEAD_BYTES + body.length);
  out.set(SECTION_HEAD, 0);
  out.writeUInt32BE(body.length + 4, 4); // §1.6.23: size counts the count field and the pairs
  out.writeUInt32BE(pairs.length, 8);
  body.copy(out, HEAD_BYTES);
  return out;
}

/**
 * Writes the section of one frame: a constant prefix (descriptor, map32 head and the pairs of
 * `constant`, encoded here once) plus the pairs of `tailKeys` taken from each frame's values.
 */
export class AppPropertiesWriter {
  readonly #prefix: Buffer;
  readonly #constantCount: number;
  readonly #tail: { key: string; keyBytes: Buffer; type: Amqp10Type }[];
  /** Bytes of the tail's keys and their fixed-size values (strings are added per frame). */
  readonly #tailFixed: number;

  constructor(constant: Readonly<Record<string, unknown>>, tailKeys: readonly string[], types = AMQP10_TYPES) {
    const pairs = pairBytes(constant, types);
    this.#constantCount = pairs.length;
    this.#prefix = Buffer.concat([Buffer.alloc(HEAD_BYTES), ...pairs]);
    this.#prefix.set(SECTION_HEAD, 0);
    this.#tail = tailKeys.map((key) => ({ key, keyBytes: stringBytes(key), type: typeOf(key, types) }));
    this.#tailFixed = this.#tail.reduce((n, t) => n + t.keyBytes.length + (t.type === "long" ? 9 : t.type === "boolean" ? 1 : 0), 0);
  }

  /** The section with the constant pairs and `values`' tail keys (in the order given). */
  write(values: Readonly<Record<string, unknown>>): Buffer {
    let strings = 0;
    const texts: (Buffer | undefined)[] = [];
    for (const t of this.#tail) {
      if (t.type !== "string") continue;
      const utf8 = Buffer.from(String(values[t.key]), "utf8");
      texts.push(utf8);
      strings += utf8.length + (utf8.length < 256 ? 2 : 5);
    }
    const out = Buffer.allocUnsafe(this.#prefix.length + this.#tailFixed + strings);
    this.#prefix.copy(out, 0);
    out.writeUInt32BE(out.length - 8, 4);
    out.writeUInt32BE(this.#constantCount + 2 * this.#tail.length, 8);
    let at = this.#prefix.length;
    let s = 0;
    for (const t of this.#tail) {
      at += t.keyBytes.copy(out, at);
      const value = values[t.key];
      if (t.type === "long") {
        at = writeLong(out, at, toLong(t.key, value));
      } else if (t.type === "boolean") {
        out[at++] = value ? 0x41 : 0x42;
      } else {
        const utf8 = texts[s++]!;
        if (utf8.length < 256) {
          out[at++] = 0xa1;
          out[at++] = utf8.length;
        } else {
          out[at] = 0xb1;
          out.writeUInt32BE(utf8.length, at + 1);
          at += 5;
        }
        at += utf8.copy(out, at);
      }
    }
    return out;
  }
}
