import type { CountryCode } from 'libphonenumber-js';
import { parsePhoneNumberFromString } from 'libphonenumber-js';

/** The typed identities a person may have. `user_id` is authoritative: a person has at most one. */
export const identityTypes = [
  'user_id',
  'anonymous_id',
  'phone',
  'email',
  'wechat_openid',
  'wechat_unionid',
  'member_no',
  'device_id',
] as const;
export type IdentityType = (typeof identityTypes)[number];

export interface IdentityClaim {
  type: IdentityType;
  value: string;
}

/** Trait names that carry an identity (besides userId/anonymousId on every event). */
export const identityTraits: readonly IdentityType[] = ['phone', 'email', 'wechat_openid', 'wechat_unionid', 'member_no'];

/** E.164 (`+8613812345678`); a number without a leading + is read in `defaultCountry`. */
export function normalizePhone(raw: string, defaultCountry?: string): string | null {
  const parsed = parsePhoneNumberFromString(raw.trim(), (defaultCountry?.toUpperCase() as CountryCode) || undefined);
  return parsed?.isValid() ? parsed.number : null;
}

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function normalizeEmail(raw: string): string | null {
  const email = raw.trim().toLowerCase();
  return emailPattern.test(email) ? email : null;
}

/** Normalises one identity value; null when it is not a valid value of its type. */
export function normalizeIdentity(type: IdentityType, raw: string, defaultCountry?: string): string | null {
  switch (type) {
    case 'phone':
      return normalizePhone(raw, defaultCountry);
    case 'email':
      return normalizeEmail(raw);
    case 'user_id':
    case 'anonymous_id':
    case 'wechat_openid':
    case 'wechat_unionid':
    case 'member_no':
    case 'device_id': {
      const v = raw.trim();
      return v === '' ? null : v;
    }
    default: {
      const never: never = type;
      throw new Error(`unknown identity type ${never}`);
    }
  }
}

// Building an Intl.DateTimeFormat is slow (~5 % of ingest time when done per identify); the set
// of time zones is small, so answers are remembered.
const timeZoneValidity = new Map<string, boolean>();

export function isValidTimeZone(tz: string): boolean {
  let valid = timeZoneValidity.get(tz);
  if (valid === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      valid = true;
    } catch {
      valid = false;
    }
    if (timeZoneValidity.size < 10_000) timeZoneValidity.set(tz, valid);
  }
  return valid;
}
