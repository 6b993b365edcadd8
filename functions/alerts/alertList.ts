import { registerList } from '../controlPlane/listOperation';
import { alertReceiptResponse } from './alertResponses';

export const listAlerts = registerList(
  {
    name: 'listAlerts',
    route: 'alerts',
    tag: 'alerts',
    summary:
      'Alerts received, newest first, each with its decision (accepted, ignored and why: no trigger, duplicate, resolved before start, cooldown, no quorum, denied)',
    item: alertReceiptResponse,
    what: 'alerts',
  },
  (root, page) => root.alerts.ingest.list(page),
);
