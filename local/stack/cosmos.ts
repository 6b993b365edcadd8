import { createHttpServer } from '@vercel/cosmosdb-server';
import type { AddressInfo } from 'node:net';

/** Well-known key of the Cosmos emulator; the local server accepts any key, Haven still sends one. */
export const COSMOS_EMULATOR_KEY =
  'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';

export interface RunningCosmos {
  endpoint: string;
  key: string;
  stop(): Promise<void>;
}

/** Runs @vercel/cosmosdb-server in-process over plain HTTP (clients disable endpoint discovery). */
export async function startCosmos(port = 0): Promise<RunningCosmos> {
  // keepAlive: the server otherwise answers `connection: close`, and every request of every
  // client paid a new TCP connection.
  const server = createHttpServer({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: actual } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${actual}`,
    key: COSMOS_EMULATOR_KEY,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
