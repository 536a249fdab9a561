// The page side of a browser WHIP publisher, shared by the Chromium interop tests: a minimal
// non-trickle WHIP client (RFC 9725) on Chromium's fake camera. Passed to page.evaluate().

/** What {@link pushFromPage} is told. */
export interface PagePushArgs {
  url: string;
  token: string;
  seconds: number;
  /** Offer an audio m-line too (the proxy must reject it and keep video). */
  audio?: boolean;
  /** Stop without the WHIP DELETE, as a publisher that crashes or loses its link does. */
  noDelete?: boolean;
}

/** Runs in the page: push for `seconds`, then DELETE (unless `noDelete`); returns what the browser saw. */
export async function pushFromPage(args: PagePushArgs) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 30 }, audio: args.audio ?? false });
  const pc = new RTCPeerConnection({ iceServers: [] });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const res = await fetch(args.url, {
    method: "POST",
    headers: { "content-type": "application/sdp", authorization: `Bearer ${args.token}` },
    body: pc.localDescription!.sdp,
  });
  const answer = await res.text();
  if (res.status !== 201) return { status: res.status, answer };
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  await new Promise((r) => setTimeout(r, args.seconds * 1000));
  const stats = await pc.getStats();
  let codec = "";
  let packetsSent = 0;
  stats.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") packetsSent = s.packetsSent;
    if (s.type === "codec" && s.mimeType?.startsWith("video/")) codec += `${s.mimeType} ${s.sdpFmtpLine ?? ""};`;
  });
  const state = pc.connectionState;
  if (args.noDelete) {
    pc.close();
    return { status: res.status, state, codec, packetsSent, deleteStatus: null };
  }
  const del = await fetch(new URL(res.headers.get("location")!, args.url), { method: "DELETE", headers: { authorization: `Bearer ${args.token}` } });
  pc.close();
  return { status: res.status, state, codec, packetsSent, deleteStatus: del.status };
}
