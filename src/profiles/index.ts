export {
  type ConflictEntry,
  computedTraitsOf,
  getPerson,
  identityHistory,
  type MergeAuditEntry,
  type Person,
  type PersonEvent,
} from './people.ts';
