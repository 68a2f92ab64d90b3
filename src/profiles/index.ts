export { type ConflictEntry, getPerson, identityHistory, type MergeAuditEntry, type Person, type PersonEvent } from './people.ts';
