// Replication data path: Event Hubs ingest, staged-blob hydrate, recovery-point routes, retention timer.
import './ingest';
import './hydrate';
import './hydrateSweep';
import './recoveryPoints';
import './retention';
export {};
