import { dirname } from 'node:path';

/**
 * Azurite picks the operation a request is by matching its URL against every operation's URI
 * template, and parses each template again for every match (`uri-templates`, called per
 * template per request). Parsing, not matching, was 7 % of Azurite's busy time in a 90 s RPO
 * bench run at 10 MB/s. A template parses to the same matcher every time (its `fromUri` keeps no
 * state between calls), so the local stack keeps one per template string: the same matches, and
 * the few dozen templates Azurite has are parsed once.
 */
interface UriTemplate {
  fromUri(uri: string, options?: object): Record<string, unknown> | undefined;
}
type Parse = (template: string) => UriTemplate;

/** `parse`, kept per template string. */
export function keptTemplates(parse: Parse): Parse {
  const kept = new Map<string, UriTemplate>();
  return (template: string) => {
    let t = kept.get(template);
    if (!t) kept.set(template, (t = parse(template)));
    return t;
  };
}

/** Where Azurite loads `uri-templates` from. */
export function uriTemplatesPath(): string {
  const from = dirname(require.resolve('azurite/package.json'));
  return require.resolve('uri-templates', { paths: [from] });
}

/**
 * Replaces the `uri-templates` export in the module cache with `keptTemplates` before Azurite's
 * modules load (they take it at require time).
 */
export function installUriTemplateCache(): void {
  const path = uriTemplatesPath();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const parse = require(path) as Parse;
  const cached = require.cache[path];
  if (typeof parse !== 'function' || !cached) {
    throw new Error('uri-templates is not a function module: review azuriteUriTemplates');
  }
  cached.exports = keptTemplates(parse);
}
