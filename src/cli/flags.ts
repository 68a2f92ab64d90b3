import { AppError } from '../core/errors.ts';

/**
 * A whole-number flag within [min, max], or a clear error naming the flag (not a stack trace).
 * Underscores may group digits, as in `1_000_000`.
 */
export function wholeNumberFlag(value: string, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value.replace(/_/g, ''));
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new AppError('invalid_request', `${flag} must be a whole number from ${min} to ${max}`, flag);
  }
  return n;
}
