// Replication data path: Event Hubs ingest, staged-blob hydrate, recovery-point routes, retention, RPO and verification timers.
import './ingest';
import './hydrate';
import './hydrateSweep';
import './recoveryPoints';
import './retention';
import './rpoMonitor';
import './verifyPoints';
export {};
