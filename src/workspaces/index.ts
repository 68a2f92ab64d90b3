export { type CreatedWorkspace, countWorkspaces, createWorkspace, KeyRing, rotateAdminKey, type Workspace } from './workspaces.ts';
