import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { HavenError } from '../core/errors';
import { Agent } from './agent';
import { newBookmarkId, type BookmarkRequestFile } from './agentTypes';
import { str } from './cliArgs';
import { signalController, type CliContext } from './cliContext';
import { readJson, sleep, writeFileAtomic } from './fsUtil';
import { followGenerationsOf } from './generations';
import { sinkFor } from './sender';

/** `haven-agent bookmark`: handed to the running agent when there is one, else cut and sent here. */
export async function bookmarkCommand({ a, state, print, log }: CliContext): Promise<number> {
  const consistency = a.flags.app ? 'app' : 'crash';
  const id = newBookmarkId(str(a, 'tag'));
  if (await state.runningPid()) {
    // The running agent owns the disks and the spool: hand it the request.
    await fsp.mkdir(state.requestsDir, { recursive: true, mode: 0o700 });
    const req: BookmarkRequestFile = { id, consistency };
    await writeFileAtomic(path.join(state.requestsDir, `${id}.json`), JSON.stringify(req));
    const until = Date.now() + 10 * 60_000;
    const done = path.join(state.requestsDir, `${id}.done`);
    while (!(await readJson(done))) {
      if (Date.now() > until) {
        throw new HavenError(
          'transient',
          `The running agent did not cut bookmark ${id} within 10 minutes.`,
        );
      }
      await sleep(250);
    }
    await fsp.rm(done, { force: true });
    print(id, { bookmarkId: id, consistency });
    return 0;
  }
  const ac = signalController();
  await followGenerationsOf(state, log);
  const agent = await Agent.open(state.dir, {
    log,
    sink: sinkFor(),
  });
  try {
    await agent.cut(consistency, id, ac.signal);
    const sending = agent.sender.run(ac.signal);
    await agent.sender.drained(ac.signal);
    ac.abort();
    await sending;
    print(id, { bookmarkId: id, consistency });
    return 0;
  } finally {
    await agent.close();
  }
}
