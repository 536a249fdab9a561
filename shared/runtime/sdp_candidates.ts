// ICE candidate lines in SDP (RFC 8839 §5.1):
//
//   a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
//
// werift gathers a host candidate for every interface it finds (and for the addresses we add);
// the answer must announce only the configured ones, so nothing else is offered to a client.

/** The `<address>` of an `a=candidate:` line, or undefined if the line is not one. */
export function candidateAddress(line: string): string | undefined {
  if (!line.startsWith("a=candidate:")) return undefined;
  return line.split(" ")[4];
}

/**
 * `sdp` without the candidates whose address is not in `allowed` (an empty set keeps all).
 * Returns the SDP and how many candidates were kept and removed.
 */
export function keepCandidates(sdp: string, allowed: ReadonlySet<string>): { sdp: string; kept: number; removed: number } {
  let kept = 0;
  let removed = 0;
  const lines = sdp.split(/\r?\n/).filter((line) => {
    const address = candidateAddress(line);
    if (address === undefined) return true;
    if (allowed.size === 0 || allowed.has(address)) {
      kept++;
      return true;
    }
    removed++;
    return false;
  });
  return { sdp: lines.join("\r\n"), kept, removed };
}
