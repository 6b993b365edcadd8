// Recovery plans: CRUD, operations, job actions (resume, cancel, restart), drills and their schedule.
import './plans';
import './planOperations';
import './jobActions';
import './drills';
export {};
