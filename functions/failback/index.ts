// The way back (reprotect, failback): the site agent's routes and the cancel of a failback.
import './agentFailback';
import './cancelFailback';
export {};
