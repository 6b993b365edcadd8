// Replication data path: Event Hubs ingest, staged-blob hydrate, recovery-point routes, retention and verification timers.
import './ingest';
import './hydrate';
import './hydrateSweep';
import './recoveryPoints';
import './retention';
import './verifyPoints';
export {};
