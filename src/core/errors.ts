/**
 * The one closed list of error codes, and their HTTP status. API errors are `{code, message, path}`.
 * Adding a code means adding its status here; nothing else maps errors to statuses.
 */
export const errorStatus = {
  invalid_request: 400,
  invalid_json: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  store_locked: 423,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Where in the input the problem is, e.g. `batch[3].timestamp`; empty when it is the whole request. */
  path: string;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly path = '',
    /** Further problems of the same request (e.g. every bad event of a batch). */
    readonly details: ErrorBody[] = [],
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): number {
    return errorStatus[this.code];
  }

  toBody(): ErrorBody & { errors?: ErrorBody[] } {
    const body: ErrorBody & { errors?: ErrorBody[] } = { code: this.code, message: this.message, path: this.path };
    if (this.details.length > 0) body.errors = this.details;
    return body;
  }
}

/** Formats a zod-style path (`['batch', 3, 'timestamp']`) as `batch[3].timestamp`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** The fields of a zod issue that errors need (kept structural so core does not depend on zod's types). */
interface ValidationIssue {
  message: string;
  path: ReadonlyArray<PropertyKey>;
}

/**
 * Validation issues as API errors, one per bad field. zod says "expected number, received
 * undefined" for a missing field; operators read "is required" more easily.
 */
export function issuesToErrors(issues: readonly ValidationIssue[], prefix: ReadonlyArray<PropertyKey> = []): ErrorBody[] {
  return issues.map((issue) => ({
    code: 'invalid_request' as const,
    message: issue.message.replace(/^Invalid input: expected (.+), received undefined$/, 'is required ($1)'),
    path: formatPath([...prefix, ...issue.path]),
  }));
}
