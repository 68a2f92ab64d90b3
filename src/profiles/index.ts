export {
  type ConflictEntry,
  computedTraitsOf,
  getPerson,
  identityHistory,
  type MergeAuditEntry,
  type Person,
  type PersonEvent,
} from './people.ts';
export { defaultProfileJobOptions, type ProfileJobOptions, ProfileJobs, type ProfileTick } from './profile-jobs.ts';
export { touchedPeople } from './touched.ts';
