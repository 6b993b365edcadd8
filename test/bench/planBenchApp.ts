// Functions app of the plan orchestration benchmark (test/bench/planOrchestration.ts): the plans
// fixture (control plane, recovery and plans HTTP and sagas over the file-backed target).
import '../local/durable/fixtures/plansApp';
