// Recovery HTTP functions (routes under /api) and the test-failover TTL timer.
import './recoverySettings';
import './recoveryOperations';
import './failoverStatus';
import './testFailoverTtl';
import './finalBookmark';
export {};
