// Control-plane functions (routes under /api; the auto-resync timer). Each module registers its triggers.
import './sites';
import './enrollment';
import './policies';
import './machines';
import './machineAccess';
import './agent';
import './protection';
import './resync';
import './autoResync';
import './consistencyGroups';
import './health';
import './openapi';
export {};
