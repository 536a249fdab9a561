import { expect, test } from "bun:test";
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { claimedPorts, freePort, freePorts, freeUdpPort, freeUdpPortRange, isTcpPortFree } from "./ports.ts";

test("freePort() returns a bindable TCP port on 127.0.0.1 and never the same one twice", async () => {
  const ports = await freePorts(20);
  expect(new Set(ports).size).toBe(20);
  const port = await freePort();
  expect(ports).not.toContain(port);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  expect(await isTcpPortFree(port)).toBe(false);
  await new Promise((resolve) => server.close(resolve));
  expect(await isTcpPortFree(port)).toBe(true);
});

test("freeUdpPort() returns a bindable UDP port", async () => {
  const port = await freeUdpPort();
  const socket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, "127.0.0.1", resolve);
  });
  expect(socket.address().port).toBe(port);
  await new Promise<void>((resolve) => socket.close(resolve));
});

test("freeUdpPortRange() returns the base of consecutive free UDP ports, not handed out again", async () => {
  const base = await freeUdpPortRange(10, { min: 30000, max: 40000 });
  expect(base).toBeGreaterThanOrEqual(30000);
  expect(base + 10).toBeLessThanOrEqual(40000);
  const sockets = [];
  for (let port = base; port < base + 10; port++) {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, "127.0.0.1", resolve);
    });
    sockets.push(socket);
  }
  for (const socket of sockets) socket.close();
  const next = await freeUdpPortRange(10, { min: 30000, max: 40000 });
  expect(next >= base + 10 || next + 10 <= base).toBe(true);
});

test("freePort() and freeUdpPort() stay below the ephemeral range and are claimed for this run", async () => {
  // Below it, no bind to port 0 and no outgoing connection elsewhere on the machine takes the
  // port before the child that was given it binds it; the claim keeps other test runs off it.
  const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  const tcp = await freePorts(10);
  const udp = await freeUdpPort();
  for (const port of [...tcp, udp]) expect(port).toBeLessThan(low);
  for (const port of tcp) expect(claimedPorts("tcp")).toContain(port);
  expect(claimedPorts("udp")).toContain(udp);
});
