import { spawn } from 'node:child_process';
import { HavenError } from '../core/errors';

/** Runs an application hook (pre-freeze / post-thaw) through the shell; fails on non-zero exit or timeout. */
export function runHook(name: string, command: string, timeoutSeconds = 60): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSeconds * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new HavenError('internal', `The ${name} hook could not start: ${e.message}`));
    });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new HavenError(
            'precondition',
            `The ${name} hook failed (${sig ? `killed by ${sig}` : `exit ${code}`}).`,
          ),
        );
    });
  });
}
