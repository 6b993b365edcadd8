import { badRequest } from './armError';

/** The api-versions the pinned clients send (arm-compute 24.1.0, arm-network 36.0.0) and the one for groups. */
const API_VERSIONS: Record<string, string[]> = {
  'microsoft.compute/disks': ['2025-01-02'],
  'microsoft.compute/snapshots': ['2025-01-02'],
  'microsoft.compute/virtualmachines': ['2026-03-01'],
  'microsoft.network': ['2025-05-01'],
  'microsoft.resources': ['2021-04-01'],
};

/** ARM's refusal of a missing or unsupported api-version, in its words for the type asked. */
export function checkApiVersion(type: string, v: string | null, location: string): void {
  if (!v)
    throw badRequest(
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    );
  const t = type.toLowerCase();
  const allowed = API_VERSIONS[t] ?? API_VERSIONS[t.split('/')[0]!] ?? [];
  if (allowed.includes(v)) return;
  // ARM itself answers for resource groups; a resource provider for the types it serves.
  if (t.startsWith('microsoft.resources/'))
    throw badRequest(
      'InvalidApiVersionParameter',
      `The api-version '${v}' is invalid. The supported versions are '${allowed.join(',')}'.`,
    );
  throw badRequest(
    'NoRegisteredProviderFound',
    `No registered resource provider found for location '${location}' and API version '${v}' for type '${type.split('/').slice(1).join('/')}'. The supported api-versions are '${allowed.join(', ')}'.`,
  );
}
