/**
 * Hides the password of a URL before it is logged: `amqp://user:pass@host` →
 * `amqp://user:***@host`. Works on any scheme (amqp, amqps, mqtt, mqtts, rtsp, http) and on
 * every URL inside a longer text (an error message, a child's stderr). Text without a URL
 * password is returned as it is.
 */
export function maskUrl(text: string): string {
  // A regex, not `new URL()`: URL re-encodes and normalizes, and rtsp:// has no special parsing.
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^:@/\s"']*):[^@/\s"']*@/gi, "$1:***@");
}
