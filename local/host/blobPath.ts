/**
 * A blob trigger path such as `staging/{machineId}/{diskId}/{rest}` or `in/{name}.{ext}`:
 * the container is literal; `{x}` matches one path segment, except a trailing parameter,
 * which takes the rest of the blob name (slashes included) as the Functions host does.
 */
export interface BlobPath {
  container: string;
  /** Literal start of the blob name, used as a listing prefix. */
  prefix: string;
  match(blobName: string): Record<string, string> | undefined;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function parseBlobPath(path: string): BlobPath {
  const trimmed = path.replace(/^\/+/, '');
  const slash = trimmed.indexOf('/');
  const container = (slash < 0 ? trimmed : trimmed.slice(0, slash)).toLowerCase();
  const pattern = slash < 0 ? '{name}' : trimmed.slice(slash + 1);
  const names: string[] = [];
  const tokens = pattern.split(/(\{[^}]+\})/).filter((t) => t !== '');
  let re = '';
  tokens.forEach((t, i) => {
    const m = /^\{([^}]+)\}$/.exec(t);
    if (!m) {
      re += escape(t);
      return;
    }
    names.push(m[1]!);
    re += i === tokens.length - 1 ? '(.+)' : '([^/]+?)';
  });
  const regex = new RegExp(`^${re}$`);
  const first = pattern.indexOf('{');
  return {
    container,
    prefix: first < 0 ? pattern : pattern.slice(0, first),
    match(blobName) {
      const m = regex.exec(blobName);
      if (!m) return undefined;
      return Object.fromEntries(names.map((n, i) => [n, m[i + 1]!]));
    },
  };
}
