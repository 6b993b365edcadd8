import { replaceFunctionModule } from './azuriteModules';

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

/** Keeps Azurite's `uri-templates` parses per template string. */
export function installUriTemplateCache(): void {
  replaceFunctionModule<Parse>('uri-templates', keptTemplates, 'azuriteUriTemplates.ts');
}
