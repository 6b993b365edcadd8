import { describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { CLAIMED_PORTS, claimPort, PortBusyError } from '../../../local/stack/freePort';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

describe('claimPort', () => {
  it('port 0 gives a free port below the ephemeral range (no outgoing connection can take it)', async () => {
    for (let i = 0; i < 5; i++) {
      const port = await claimPort(0, '127.0.0.1');
      expect(port).toBeGreaterThanOrEqual(CLAIMED_PORTS.from);
      expect(port).toBeLessThanOrEqual(CLAIMED_PORTS.to);
      const s = await listen(port); // free indeed
      await new Promise((r) => s.close(r));
    }
  });

  it('a port in use is refused by name; a free one asked for is given back as is', async () => {
    const held = await listen(0);
    const port = (held.address() as { port: number }).port;
    await expect(claimPort(port, '127.0.0.1')).rejects.toBeInstanceOf(PortBusyError);
    await new Promise((r) => held.close(r));
    expect(await claimPort(port, '127.0.0.1')).toBe(port);
  });
});
