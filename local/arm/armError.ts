/**
 * An ARM refusal: the HTTP status and the `{error:{code,message}}` body Azure sends, so the real
 * clients raise the same `RestError` (statusCode, code) they would against management.azure.com.
 */
export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ArmError';
  }

  body(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export const notFound = (type: string, name: string, resourceGroup: string) =>
  new ArmError(
    404,
    'ResourceNotFound',
    `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );

export const groupNotFound = (resourceGroup: string) =>
  new ArmError(
    404,
    'ResourceGroupNotFound',
    `Resource group '${resourceGroup}' could not be found.`,
  );

export const badRequest = (code: string, message: string) => new ArmError(400, code, message);

export const conflict = (code: string, message: string) => new ArmError(409, code, message);
