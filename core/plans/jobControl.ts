import { z } from 'zod';
import type { Jobs } from '../controlPlane/jobs';
import type { JobDoc } from '../controlPlane/model';
import { conflict } from '../errors';
import { ALERT_DECISION_JOB, DRILL_JOB, isPlanJobType } from './planOperations';

/**
 * The external event plan, drill and decision orchestrations listen to: a person resumes a
 * job waiting for a manual action (or approves a decision), or cancels it (denies). It names
 * the step it answers, so a resume that arrives after the wait ended (its timeout decided)
 * cannot answer a later manual action.
 */
export const JOB_CONTROL_EVENT = 'JobControl';

export interface JobControlEvent {
  action: 'resume' | 'cancel';
  /** The waiting step it answers (resume); any step (cancel). */
  step?: string;
  comment?: string;
  by: string;
  at: string;
}

export const jobControlBody = z.object({ comment: z.string().max(1000).optional() }).strict();

/** Jobs whose orchestrations listen to JobControl events. */
export const isControllable = (type: string): boolean =>
  isPlanJobType(type) || type === DRILL_JOB || type === ALERT_DECISION_JOB;

/** Raises an event on a job's orchestration instance (the durable client). */
export interface JobEvents {
  raise(instanceId: string, event: string, data: unknown): Promise<void>;
}

/**
 * `POST /jobs/{id}/resume` and `/cancel`: checked against the job's state and allowed actions,
 * then handed to its orchestration as an event (which decides; the job document shows the
 * result). Refusals are 409 and raise nothing.
 */
export class JobControl {
  constructor(
    private readonly jobs: Jobs,
    private readonly clock: () => number,
  ) {}

  async act(
    jobId: string,
    action: 'resume' | 'cancel',
    body: { comment?: string },
    by: string,
    events: JobEvents | undefined,
  ): Promise<JobDoc> {
    const job = await this.jobs.get(jobId);
    if (!isControllable(job.type))
      throw conflict(`Job '${jobId}' (${job.type}) cannot be ${action}d through the jobs API.`, {
        jobType: job.type,
      });
    if (!job.allowedActions?.includes(action))
      throw conflict(`Job '${jobId}' is ${job.state}: ${action} is not allowed now.`, {
        state: job.state,
        allowedActions: job.allowedActions ?? [],
      });
    if (action === 'resume' && job.state !== 'waiting-for-manual-action')
      throw conflict(`Job '${jobId}' is not waiting for a manual action.`, { state: job.state });
    if (!events) throw conflict('Durable Functions is not available to this call.');
    const event: JobControlEvent = {
      action,
      ...(action === 'resume' && job.progress.step ? { step: job.progress.step } : {}),
      ...(body.comment ? { comment: body.comment } : {}),
      by,
      at: new Date(this.clock()).toISOString(),
    };
    await events.raise(job.instanceId, JOB_CONTROL_EVENT, event);
    return job;
  }
}
