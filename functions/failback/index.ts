// The way back (reprotect, failback): the site agent's routes.
import './agentFailback';
export {};
