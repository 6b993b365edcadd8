export const UNAUTHORIZED = 'amqp:unauthorized-access';
export const NOT_FOUND = 'amqp:not-found';

export interface AmqpError {
  condition: string;
  description: string;
}

/** An error the endpoint reports to the client: as a link error or a management-node status. */
export class EmulatorError extends Error {
  constructor(
    readonly condition: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function notFound(entity: string): EmulatorError {
  // The SDK maps this description to MessagingEntityNotFoundError.
  return new EmulatorError(
    NOT_FOUND,
    404,
    `The messaging entity '${entity}' could not be found. status-code: 404`,
  );
}

export function unauthorized(why: string): EmulatorError {
  return new EmulatorError(UNAUTHORIZED, 401, `Unauthorized access. ${why} status-code: 401`);
}
