import { freshBuild } from './freshBuild';

/** For the unit tests: dist/ up to date for the few children they start (see freshBuild). */
export default function setup(): void {
  freshBuild();
}
