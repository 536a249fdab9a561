import { expect, test } from "bun:test";
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { freePort, freePorts, freeUdpPort, freeUdpPortRange, isTcpPortFree } from "./ports.ts";

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
