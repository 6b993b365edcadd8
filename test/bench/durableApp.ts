// Functions app of the durable benchmark (loaded by the local host from test/bench/durable.ts).
import * as df from 'durable-functions';

df.app.activity('BenchHello', { handler: (name: string) => `Hello ${name}` });

df.app.orchestration('BenchSequence', function* (ctx) {
  const out: string[] = [];
  for (const city of ['Tokyo', 'Seattle', 'London'])
    out.push((yield ctx.df.callActivity('BenchHello', city)) as string);
  return out;
});

df.app.orchestration('BenchSteps', function* (ctx) {
  const steps = ctx.df.getInput() as number;
  for (let i = 0; i < steps; i++) yield ctx.df.callActivity('BenchHello', String(i));
  return steps;
});
