import { HavenError } from '../core/errors';

/** The agent's command line: positional words and `--name value` / `--flag` options. */
export interface Args {
  _: string[];
  flags: Record<string, string | true>;
}

const BOOL_FLAGS = new Set(['once', 'json', 'app', 'help', 'wait']);

export function parseArgs(argv: string[]): Args {
  const out: Args = { _: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) out.flags[name] = a.slice(eq + 1);
      else if (BOOL_FLAGS.has(name)) out.flags[name] = true;
      else {
        const v = argv[++i];
        if (v === undefined) throw new HavenError('validation', `Option --${name} needs a value.`);
        out.flags[name] = v;
      }
    } else out._.push(a);
  }
  return out;
}

/** The value of option `--name` (a boolean use of it is refused, as is a missing required one). */
export const str = (a: Args, name: string, required = false): string | undefined => {
  const v = a.flags[name];
  if (v === true || (required && v === undefined))
    throw new HavenError('validation', `Option --${name} is required and takes a value.`);
  return v as string | undefined;
};
