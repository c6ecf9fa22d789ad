// Errors with stable `code`s, so callers, logs and tests match on the code and not on text.
export type ErrorCode =
  | 'NPP_BAD_FLAG'
  | 'NPP_BAD_OBJECT'
  | 'NPP_BAD_OBJECTS_FILE'
  | 'NPP_BIND_FAILED'
  | 'NPP_NO_KUBECONFIG';

export class ProxyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProxyError';
    this.code = code;
  }
}

export function badObject(ref: string, reason: string): ProxyError {
  return new ProxyError('NPP_BAD_OBJECT', `${ref}: ${reason}`);
}
