import { describe, expect, it } from 'vitest';
import { deployCheckDecision, skippedReason } from '#shared/verify/on-deploy.ts';

describe('verify on deploy: when it checks', () => {
  it('never checks the first deploy, a rollback or a delete', () => {
    expect(deployCheckDecision('Create', 'CREATE_IN_PROGRESS')).toBe('skip-first-deploy');
    expect(deployCheckDecision('Update', 'UPDATE_ROLLBACK_IN_PROGRESS')).toBe('skip-rollback');
    expect(deployCheckDecision('Create', 'UPDATE_ROLLBACK_IN_PROGRESS')).toBe('skip-rollback');
    expect(deployCheckDecision('Update', 'ROLLBACK_IN_PROGRESS')).toBe('skip-rollback');
    expect(deployCheckDecision('Delete', 'UPDATE_IN_PROGRESS')).toBe('skip-delete');
  });

  it('checks an update, and a first run of the check added to an existing stack', () => {
    expect(deployCheckDecision('Update', 'UPDATE_IN_PROGRESS')).toBe('check');
    expect(deployCheckDecision('Create', 'UPDATE_IN_PROGRESS')).toBe('check');
  });

  it('says what to do when it skipped the first deploy', () => {
    expect(skippedReason('skip-first-deploy')).toMatch(/associate the COPY role .* run verify/);
  });
});
