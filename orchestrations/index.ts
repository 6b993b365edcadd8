// Registers every saga and its activities with the durable-functions SDK (imported by
// functions/index.ts). One saga per file; activity names are exported constants.
import { registerEnableProtection } from './registerEnableProtection';
import { registerRecovery } from './registerRecovery';
import { registerResync } from './registerResync';
import { registerPlans } from './registerPlans';

registerEnableProtection();
registerResync();
registerRecovery();
registerPlans();
