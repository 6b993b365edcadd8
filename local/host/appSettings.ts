/** Resolves `%Name%` app-setting references in binding properties, as the Functions host does. */
export function resolveSettingRefs(value: string, settings: Record<string, string>): string {
  return value.replace(/%([^%]+)%/g, (whole, name: string) => settings[name] ?? whole);
}

/**
 * The connection string for a storage binding's `connection` property: the setting itself,
 * or `AzureWebJobs<name>`, defaulting to `AzureWebJobsStorage`.
 */
export function storageConnectionString(
  connection: unknown,
  settings: Record<string, string>,
): string {
  const name = typeof connection === 'string' && connection ? connection : 'AzureWebJobsStorage';
  const value = settings[name] ?? settings[`AzureWebJobs${name}`];
  if (!value) throw new Error(`Storage connection setting '${name}' is not set`);
  return value;
}
