/**
 * Hides the password of a URL before it is logged: `amqp://user:pass@host` →
 * `amqp://user:***@host`. Works on any scheme (amqp, amqps, mqtt, mqtts, rtsp, http).
 * Text that is not a URL is returned as it is.
 */
export function maskUrl(text: string): string {
  // A regex, not `new URL()`: URL re-encodes and normalizes, and rtsp:// has no special parsing.
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/\s]*):[^@/\s]*@/i, "$1:***@");
}
