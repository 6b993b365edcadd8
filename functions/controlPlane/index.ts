// Control-plane HTTP functions (routes under /api). Each module registers its triggers.
import './sites';
import './enrollment';
import './policies';
import './machines';
import './machineAccess';
import './agent';
import './protection';
import './resync';
import './consistencyGroups';
import './health';
import './openapi';
export {};
