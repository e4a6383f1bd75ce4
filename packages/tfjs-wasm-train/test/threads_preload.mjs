// A preload for threads.test.ts: says so on stderr when it runs in a worker thread (emscripten's pool workers
// must not run the application's preloads).
import { isMainThread } from 'node:worker_threads';

if (!isMainThread) process.stderr.write('PRELOAD RAN IN A WORKER\n');
