/**
 * The Node.js (V8) flags every gemflow process runs with: the image's ENTRYPOINT (Dockerfile), the
 * `#!` line of bin/gemflow.js (the `gemflow` command, `npm run demo`) and every process the benchmark
 * starts (bench/: workers, simulators, the CPU replay and the export measurement), so that the
 * benchmark measures the processes as they are deployed. tests/src/node-flags.test.ts checks that
 * those places name exactly these flags.
 *
 * `--max-semi-space-size=64` (MB; V8's default is 16 on 64-bit): a trajectory's objects (its prompts,
 * the parsed answers, the row) live for the few milliseconds to seconds a document is in flight,
 * longer than two young-generation collections apart at the default size, so V8 promoted them to the
 * old generation, where they died and were marked and compacted again. With 64 MB semi-spaces most die
 * young. Measured with the CPU replay (bench/cpu-per-trajectory.ts), the two variants side by side at
 * the same time, 8 rounds: 2 to 14% less process CPU per written trajectory in every round (median
 * 4.9%); 14 rounds in all, 12 in its favour. Cost: the young generation may grow to 3 x 64 MB.
 * `--single-threaded-gc` on top of it was measured too and gave nothing clear (6 rounds: 4 lower by
 * 0.5-9%, 2 higher by 7-12%).
 *
 * V8 reads heap sizes when the process starts, so these cannot be set from inside it
 * (v8.setFlagsFromString has no effect on them): they must be on the command line or, for this flag,
 * in NODE_OPTIONS. `node bin/gemflow.js ...` without them still runs, with V8's defaults.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
