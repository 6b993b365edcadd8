import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fsckClean, makeExt4Image } from '../../../local/images/ext4';

describe('fsckClean tells "not clean" from "could not check"', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'haven-fsck-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const image = (name: string) => {
    const f = path.join(dir, name);
    makeExt4Image(f, 8 * 2 ** 20, { fill: 0.2 });
    return f;
  };

  it('a fresh filesystem is clean', () => {
    expect(fsckClean(image('clean.img'))).toBe(true);
  });

  it('a block in use marked free is not clean (e2fsck exit 4)', () => {
    const f = image('broken.img');
    execFileSync('debugfs', ['-w', '-R', 'freeb 1', f], { stdio: 'pipe' });
    expect(fsckClean(f)).toBe(false);
  });

  it('an image that is not there cannot be checked: an error, not "not clean"', () => {
    expect(() => fsckClean(path.join(dir, 'missing.img'))).toThrow(/could not check/);
  });

  it('without e2fsck on PATH: an error naming the package', () => {
    const f = image('nopath.img');
    const saved = process.env.PATH;
    process.env.PATH = dir;
    try {
      expect(() => fsckClean(f)).toThrow(/e2fsck is not installed/);
    } finally {
      process.env.PATH = saved;
    }
  });
});
