import { describe, expect, it } from 'vitest';
import { heartbeatBody } from '../../core/controlPlane/schemas';
import { SendRate, replicationReport } from '../../edge-agent/sendRate';

describe('what the agent can promise', () => {
  it('the send rate follows acknowledged bytes and decays when nothing is acknowledged', () => {
    const r = new SendRate(10_000);
    let t = 0;
    r.record(0, t);
    for (let i = 0; i < 60; i++) r.record(10e6, (t += 1000)); // 10 MB/s for a minute
    expect(r.perSecond(t)).toBeGreaterThan(9e6);
    expect(r.perSecond(t)).toBeLessThan(11e6);
    expect(r.perSecond(t + 40_000)).toBeLessThan(3e6); // a stalled sender promises less and less
  });

  it('promised RPO = backlog ÷ send rate + the bookmark interval, bounded; the heartbeat accepts it', () => {
    expect(
      replicationReport({ backlogBytes: 0, sendBytesPerSecond: 0, bookmarkIntervalSeconds: 1 }),
    ).toEqual({
      backlogBytes: 0,
      sendBytesPerSecond: 0,
      promisedRpoSeconds: 1,
    });
    const busy = replicationReport({
      backlogBytes: 300e6,
      sendBytesPerSecond: 10e6,
      bookmarkIntervalSeconds: 5,
    });
    expect(busy.promisedRpoSeconds).toBe(35);
    const stalled = replicationReport({
      backlogBytes: 1,
      sendBytesPerSecond: 0,
      bookmarkIntervalSeconds: 5,
    });
    expect(stalled.promisedRpoSeconds).toBe(86_400);
    expect(heartbeatBody.parse({ agentVersion: '1', replication: busy }).replication).toEqual(busy);
  });
});
