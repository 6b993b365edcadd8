import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:net';

/**
 * Listens on a Unix socket that only the agent's user can connect to (mode 0600). The socket is
 * created under a 0177 umask, so there is no moment when it exists with wider permissions
 * (a chmod after listen would leave a window in which another local user connects). Whatever
 * was at the path is removed only when it is a socket: a typo must not delete a file.
 */
export async function listenPrivate(server: Server, path: string): Promise<void> {
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) {
      throw new Error(`${path} exists and is not a socket; refusing to replace it.`);
    }
    unlinkSync(path);
  }
  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  chmodSync(path, 0o600); // belt and braces: the umask already gave exactly this
}
