// Alert-driven operations: the Azure Monitor webhook, alert triggers, the alert list, and
// Haven's own site-down signal.
import './azureMonitor';
import './alertTriggers';
import './alertList';
import './siteDown';
export {};
