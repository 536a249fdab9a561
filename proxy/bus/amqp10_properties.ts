/**
 * The AMQP 1.0 properties section of a message, encoded for RabbitMQ's `x-amqp-1.0-properties`
 * header (shared AMQP10_HEADER). Without it the `rabbitmq_amqp1_0` plugin (3.10) builds the
 * section from the 0-9-1 basic properties, and puts the 0-9-1 `timestamp` (seconds) into
 * creation-time, which AMQP 1.0 counts in ms: a Proton receiver saw January 1970. With it, the
 * plugin passes these bytes on as they are, so they carry what it would have mapped (message-id,
 * subject = the routing key, content-type) and a creation-time in ms.
 *
 * OASIS AMQP 1.0, Part 3 §3.2.4: properties is a described list, descriptor
 * `amqp:properties:list` = 0x00000000:0x00000073; trailing fields left out are null (Part 1 §1.4).
 *
 *   +------+------+------+------+------------+------------+--------------------------------+
 *   | 0x00 | 0x53 | 0x73 | 0xd0 | size (u32) | count (u32)| message-id user-id to subject  |
 *   +------+------+------+------+------------+------------+ reply-to correlation-id        |
 *   described smallulong   list32  (§1.6.22)                 content-type content-encoding  |
 *                                                            absolute-expiry creation-time  |
 *                                                          +--------------------------------+
 *   null 0x40 (§1.6.1); message-id and subject str8/str32-utf8 (§1.6.20); content-type sym8
 *   0xa3 / sym32 0xb3 (§1.6.21); creation-time timestamp 0x83 + 8 bytes ms (§1.6.17).
 *
 * Only creation-time changes per message, at a fixed offset: a message copies the prefix and
 * writes 9 bytes.
 */
import { stringBytes, toLong, writeLong } from "./amqp10_app_properties.ts";

/** The fields of {@link PropertiesWriter} that stay the same for every message. */
export interface Amqp10Properties {
  /** message-id (e.g. an event's own id); none by default. */
  messageId?: string;
  /** subject: the routing key, as the plugin would set it. */
  subject: string;
  /** content-type (a MIME type). */
  contentType: string;
}

const NULL = 0x40;
/** The ten fields up to creation-time. */
const FIELDS = 10;
/** creation-time: constructor + 8 bytes. */
const TIME_BYTES = 9;

/** sym8 / sym32 (§1.6.21): ASCII bytes. */
function symbolBytes(text: string): Buffer {
  const ascii = Buffer.from(text, "latin1");
  const head = ascii.length < 256 ? Buffer.from([0xa3, ascii.length]) : Buffer.from([0xb3, 0, 0, 0, 0]);
  if (ascii.length >= 256) head.writeUInt32BE(ascii.length, 1);
  return Buffer.concat([head, ascii]);
}

/** Writes the properties section of messages that differ only in their creation time. */
export class PropertiesWriter {
  readonly #prefix: Buffer;

  constructor(fields: Amqp10Properties) {
    const n = Buffer.from([NULL]);
    const elements = Buffer.concat([
      fields.messageId === undefined ? n : stringBytes(fields.messageId), n, n, stringBytes(fields.subject), n, n,
      symbolBytes(fields.contentType), n, n, Buffer.alloc(TIME_BYTES),
    ]);
    this.#prefix = Buffer.alloc(12 + elements.length);
    this.#prefix.set([0x00, 0x53, 0x73, 0xd0], 0);
    this.#prefix.writeUInt32BE(elements.length + 4, 4); // size counts the count field and the elements
    this.#prefix.writeUInt32BE(FIELDS, 8);
    elements.copy(this.#prefix, 12);
  }

  /** The section with creation-time `creationMs` (ms since the Unix epoch). */
  write(creationMs: number): Buffer {
    const out = Buffer.allocUnsafe(this.#prefix.length);
    this.#prefix.copy(out, 0);
    writeLong(out, out.length - TIME_BYTES, toLong("creation-time", creationMs), 0x83);
    return out;
  }
}
